"""The `babelsafe` command line: a thin shell over babelsafe.api and the stage modules."""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Measure, attack and defend LLM safety across languages.")
console = Console(stderr=True)
out = Console()


def main() -> None:
    """Console-script entry point: usage errors exit with code 2 and a message saying what to do."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the terminal gets warnings; run.log gets everything
        handler.setLevel(logging.WARNING)
    try:
        app()
    except UsageError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(2)


def _fail(e: UsageError) -> None:
    console.print(f"[bold red]error:[/] {e}", highlight=False)
    raise typer.Exit(2)


# -- run / resume ------------------------------------------------------------------------------
def _target_overrides(spec_targets: list[dict[str, Any]], **flags: Any) -> list[dict[str, Any]] | None:
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return None
    targets = [dict(t) for t in spec_targets] or [{}]
    targets[0].update(given)
    if "type" in given and "model" not in given and given["type"] != targets[0].get("type"):
        targets[0].pop("model", None)
    return targets


def _progress_runner(make_runner: Any) -> Any:
    """Run with a rich progress bar; Ctrl-C stops cleanly (finished work is kept), twice aborts."""
    from .runner import Runner  # noqa: F401  (import cost only when running)

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("errors {task.fields[errors]}"), TextColumn("cached {task.fields[cached]}"),
               TextColumn("{task.fields[rate]}/s"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False, refresh_per_second=8) as bar:
        task = bar.add_task("running", total=None, errors=0, cached=0, rate="0.0")
        import time

        def on_progress(p: Any) -> None:
            el = max(1e-6, time.monotonic() - p.started)
            bar.update(task, total=p.total, completed=p.done, errors=p.errors, cached=p.cached,
                       rate=f"{p.done / el:.1f}")

        runner = make_runner(on_progress)
        presses = 0

        def on_sigint() -> None:
            nonlocal presses
            presses += 1
            if presses > 1:
                console.print("[red]aborting[/]")
                raise SystemExit(130)
            console.print("[yellow]stopping: finishing writes; run `babelsafe resume "
                          f"{runner.run_dir}` to continue[/]")
            runner.request_stop()

        async def go() -> Any:
            loop = asyncio.get_running_loop()
            try:
                loop.add_signal_handler(signal.SIGINT, on_sigint)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass
            return await runner.run()

        from .api import run_async

        result = run_async(go())
        bar.update(task, total=result.progress.total, completed=result.progress.done)
    return result


def _finish(result: Any, report: bool) -> None:
    from .metrics import render_summary_table

    out.print(render_summary_table(result.summary))
    if report:
        from .report.html import write_report

        path = write_report(result.run_dir)
        console.print(f"report: {path}")
    c = result.summary.get("counts", {})
    console.print(f"run dir: {result.run_dir}  ({c.get('completed', 0)} answered, {c.get('errors', 0)} errors)")
    if result.interrupted:
        console.print(f"[yellow]interrupted — resume with: babelsafe resume {result.run_dir}[/]")
        raise typer.Exit(130)


@app.command()
def run(
    spec_file: Optional[Path] = typer.Argument(None, help="YAML run spec; flags override it."),
    dataset: Optional[List[str]] = typer.Option(None, "--dataset", "-d",
                                                help="Registry name, CSV/JSONL/Parquet path, or hf:ORG/NAME[:split]."),
    languages: Optional[str] = typer.Option(None, "--languages", "-l", help="Comma-separated ISO codes."),
    categories: Optional[str] = typer.Option(None, "--categories", help="Comma-separated harm categories."),
    safety_config: Optional[str] = typer.Option(None, "--safety-config",
                                                help="Harm categories the deployment allows (CoSA-Score)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Prompts per language."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    transform: Optional[List[str]] = typer.Option(
        None, "--transform", "-t", help="A chain like 'aim' or 'translate:to=bn>aim'; repeat for several chains."),
    target: Optional[str] = typer.Option(None, "--target", help="Target type: local (default), openai, transformers, vllm."),
    model: Optional[str] = typer.Option(None, "--model", "-m"),
    base_url: Optional[str] = typer.Option(None, "--base-url"),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Name of the env var holding the key."),
    system_prompt: Optional[str] = typer.Option(None, "--system-prompt"),
    temperature: Optional[float] = typer.Option(None, "--temperature"),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens"),
    extra_body: Optional[str] = typer.Option(None, "--extra-body", help="JSON merged into each request body."),
    option: Optional[List[str]] = typer.Option(
        None, "--option", help="Target option KEY=VALUE (repeatable), e.g. transport=raw, n_threads=2, "
                               "chat_format=chatml, batch_size=8."),
    defense: Optional[List[str]] = typer.Option(None, "--defense", help="Defense layer around the target."),
    judge: Optional[List[str]] = typer.Option(None, "--judge", "-j", help="Judge name (repeatable)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", help="Requests in flight per target."),
    rpm: Optional[float] = typer.Option(None, "--rpm", help="Requests per minute limit."),
    tpm: Optional[float] = typer.Option(None, "--tpm", help="Tokens per minute limit."),
    retries: Optional[int] = typer.Option(None, "--retries"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per request."),
    out_dir: Optional[str] = typer.Option(None, "--out", "-o", help="Run directory."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Make fresh model calls even when cached."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Skip malformed dataset rows."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and exit."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html at the end."),
) -> None:
    """Run datasets x transforms x targets, judge every answer, write the run dir."""
    import yaml

    from .spec import load_spec

    try:

        base = load_spec(spec_file) if spec_file else load_spec(None)
        eb = None
        if extra_body:
            try:
                eb = json.loads(extra_body)
            except json.JSONDecodeError as e:
                raise UsageError(f"--extra-body is not valid JSON: {e}") from e
        opts = None
        if option:
            opts = dict(base.targets[0].options) if spec_file else {}
            for kv in option:
                k, sep, v = kv.partition("=")
                if not sep or not k.strip():
                    raise UsageError(f"--option expects KEY=VALUE, got '{kv}'.")
                opts[k.strip()] = yaml.safe_load(v)
        targets = _target_overrides(
            [t.model_dump() for t in base.targets] if spec_file else [],
            type=target, model=model, base_url=base_url, api_key_env=api_key_env, system_prompt=system_prompt,
            temperature=temperature, max_tokens=max_tokens, extra_body=eb, options=opts,
            defenses=[{"name": d} for d in defense] if defense else None)
        spec = load_spec(spec_file, datasets=dataset or None, languages=languages, categories=categories,
                         safety_config=safety_config,
                         limit=limit, seed=seed, transforms=transform or None, targets=targets,
                         judges=judge or None, concurrency=concurrency, rpm=rpm, tpm=tpm, retries=retries,
                         timeout=timeout, out=out_dir, cache=False if no_cache else None,
                         skip_bad_rows=True if skip_bad_rows else None)
        if dry_run:
            from .runner import plan

            p = plan(spec)
            out.print_json(json.dumps(p))
            out.print(f"{p['samples']} samples x {len(p['chains'])} chains x {len(p['targets'])} targets = "
                      f"{p['requests']} requests; ~{p['est_prompt_tokens']} prompt tokens, "
                      f"<= {p['max_completion_tokens']} completion tokens")
            return
        from .runner import Runner

        result = _progress_runner(lambda cb: Runner(spec, cb))
        _finish(result, report)
    except UsageError as e:
        _fail(e)


@app.command()
def resume(run_dir: Path = typer.Argument(..., help="A run directory made by `babelsafe run`."),
           report: bool = typer.Option(True, "--report/--no-report")) -> None:
    """Finish an interrupted run: finished work is kept, failed requests retried, nothing repeated."""
    from .api import spec_of_run
    from .runner import Runner

    try:
        spec = spec_of_run(run_dir, cache=True)  # finished work is never repeated, even after --no-cache
        result = _progress_runner(lambda cb: Runner(spec, cb))
        _finish(result, report)
    except UsageError as e:
        _fail(e)


# -- list --------------------------------------------------------------------------------------
@app.command("list")
def list_(what: str = typer.Argument(..., help="datasets | transforms | targets | judges | languages"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the registered components with their languages, source and license."""
    from .registry import registry

    kinds = {"datasets": "dataset", "transforms": "transform", "targets": "target", "judges": "judge"}
    if what == "languages":
        from . import languages as L

        rows = [{"code": x.code, "iso3": x.iso3, "name": x.name, "script": x.script, "family": x.family,
                 "tier": L.tier(x.code)} for x in L.LANGUAGES.values()]
    elif what in kinds:
        reg = registry(kinds[what])
        rows = [reg.describe(n) for n in reg.names()]
    else:
        _fail(UsageError(f"Cannot list '{what}'. Choose one of: {', '.join(list(kinds) + ['languages'])}."))
        return
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    # the table keeps to what fits a terminal; --json has everything (citations, full categories)
    wanted = ["code", "iso3", "name", "script", "family", "tier", "description", "languages", "size", "labels",
              "license", "source"]
    cols = [c for c in wanted if any(c in r for r in rows)]
    table = Table(title=what, show_lines=False)
    for c in cols:
        table.add_column(c, overflow="fold", max_width=48 if c in ("description", "source") else 28)
    for r in rows:
        table.add_row(*[_cell(r.get(c)) for c in cols])
    out.print(table)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) if len(v) <= 10 else ", ".join(map(str, v[:10])) + f" … (+{len(v) - 10})"
    return str(v)


# -- commands contributed by stage modules (keep each a thin shell) -----------------------------


# -- calibrate (judges helper; shell over babelsafe.judges.calibrate) ---------------------------
@app.command()
def calibrate(
    labels_file: Path = typer.Argument(..., help="CSV/JSONL with prompt, response, language, label."),
    judge: str = typer.Option("refusal", "--judge", help="Judge name (babelsafe list judges)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full result as JSON here."),
    options: Optional[str] = typer.Option(None, "--options", help="Judge options as JSON, e.g. "
                                          "'{\"target\": {\"type\": \"openai\", \"model\": \"gpt-4o\"}}'."),
    vocabulary: Optional[str] = typer.Option(None, "--vocabulary", help="refusal | safety (default: the labels')."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the 95% CIs (0: none)."),
) -> None:
    """Measure a judge against human labels: accuracy, kappa, per-class F1, confusion, per language."""
    from .judges.calibrate import calibrate_cli, render_calibration, render_confusion

    try:
        result = calibrate_cli(judge, labels_file, json_out, options, vocabulary, bootstrap)
    except UsageError as e:
        _fail(e)
        return
    out.print(render_calibration(result))
    out.print(render_confusion(result))
    if json_out is not None:
        console.print(f"wrote {json_out}")


# -- guard / defend (defense module; shells over babelsafe.defense.*) ----------------------------
guard_app = typer.Typer(no_args_is_help=True, help="The multilingual guardrail proxy.")
defend_app = typer.Typer(no_args_is_help=True, help="Safety fine-tuning data: export from runs, scan datasets.")
app.add_typer(guard_app, name="guard")
app.add_typer(defend_app, name="defend")


def _whitebox_app() -> typer.Typer:
    from .whitebox.cli import whitebox_app  # typer + rich only; torch is imported by the commands

    return whitebox_app


app.add_typer(_whitebox_app(), name="whitebox")


@guard_app.command("serve")
def guard_serve(
    upstream: str = typer.Option(..., "--upstream", help="Base URL of the model, e.g. http://127.0.0.1:8000/v1."),
    judge: str = typer.Option("refusal", "--judge", help="Judge that screens (babelsafe list judges)."),
    check: Optional[str] = typer.Option(None, "--check", help="input,output (default: output for refusal "
                                        "judges, input,output for safety judges)."),
    judge_options: Optional[str] = typer.Option(None, "--judge-options", help="Judge options as JSON."),
    input_judge: Optional[str] = typer.Option(None, "--input-judge", help="A safety judge for the input check."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8080, "--port"),
    token_env: Optional[str] = typer.Option(None, "--token-env", help="Env var with the bearer token clients send."),
    upstream_key_env: Optional[str] = typer.Option(None, "--upstream-key-env", help="Env var with the upstream key."),
    pivot: bool = typer.Option(False, "--pivot", help="Translate to English before the check."),
    translator: Optional[str] = typer.Option(None, "--translator", help="Translator target for --pivot "
                                             "(JSON spec or TYPE:MODEL)."),
    block_labels: Optional[str] = typer.Option(None, "--block-labels", help="Labels that block (comma list)."),
    fail_closed: bool = typer.Option(False, "--fail-closed", help="Block when the judge fails."),
    max_request_bytes: int = typer.Option(1_000_000, "--max-request-bytes"),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the upstream."),
    audit_log: Optional[str] = typer.Option("guard-audit.jsonl", "--audit-log", help="JSONL of decisions ('' = off)."),
    stream_check_chars: int = typer.Option(160, "--stream-check-chars", help="Check streams every N characters."),
) -> None:
    """Serve an OpenAI-compatible endpoint that screens input/output and refuses in the user's language."""
    from .defense.proxy import config_from_flags, serve

    try:
        cfg = config_from_flags(upstream, judge, check, judge_options, input_judge, pivot, translator, block_labels,
                                token_env=token_env, upstream_key_env=upstream_key_env, fail_closed=fail_closed,
                                max_request_bytes=max_request_bytes, timeout=timeout, audit_log=audit_log or None,
                                stream_check_chars=stream_check_chars)
        serve(cfg, host, port, lambda: console.print(f"babelsafe guard on http://{host}:{port}/v1 -> {upstream} "
                                                     f"(judge {judge})", highlight=False))
    except UsageError as e:
        _fail(e)


@defend_app.command("export")
def defend_export(
    run_dir: Path = typer.Argument(..., help="A judged run directory."),
    fmt: str = typer.Option("sft", "--format", help="sft | dpo"),
    out_file: Path = typer.Option(..., "--out", help="JSONL to write (a Hugging Face copy goes to OUT.hf/)."),
    refusal_target: Optional[str] = typer.Option(None, "--refusal-target", help="Target writing refusals "
                                                 "(JSON spec or TYPE:MODEL; default: built-in refusal texts)."),
    helpful_target: Optional[str] = typer.Option(None, "--helpful-target", help="Target answering over-refused "
                                                 "benign prompts (JSON spec or TYPE:MODEL)."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Which of the run's judges decides (default: refusal)."),
    dpo_style: str = typer.Option("trl", "--dpo-style", help="trl ({prompt,chosen,rejected}) | openai."),
    hf: bool = typer.Option(True, "--hf/--no-hf", help="Also save a Hugging Face dataset (needs `datasets`)."),
) -> None:
    """Build SFT / DPO safety fine-tuning data from a judged run (refusals + helpful answers, judge-checked)."""
    from .defense.export import balance_table, export

    try:
        res = export(run_dir, fmt, out_file, refusal_target, helpful_target, judge, dpo_style, hf)
    except UsageError as e:
        _fail(e)
        return
    out.print(balance_table(res.examples))
    console.print(", ".join(f"{k} {v}" for k, v in sorted(res.stats.items())), highlight=False)
    console.print(f"wrote {len(res.records)} examples to {res.out}" + (f" and {res.hf_path}" if res.hf_path else ""))


@defend_app.command("scan")
def defend_scan(
    data: Path = typer.Argument(..., help="Fine-tuning set: OpenAI chat JSONL ({\"messages\": [...]} per line)."),
    judge: str = typer.Option("refusal", "--judge", help="Judge for assistant turns (babelsafe list judges)."),
    judge_options: Optional[str] = typer.Option(None, "--judge-options", help="Judge options as JSON."),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Your own rules YAML (default: the shipped rules)."),
    threshold: float = typer.Option(0.0, "--threshold", help="Exit 1 when the flagged share exceeds this."),
    min_severity: int = typer.Option(1, "--min-severity", help="Ignore flags below this severity (1-3)."),
    flagged_out: Optional[Path] = typer.Option(None, "--out", help="Write flagged examples here (JSONL)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Screen a fine-tuning set for safety-eroding examples, by language and category."""
    from .defense.scan import scan, scan_table

    try:
        opts = json.loads(judge_options) if judge_options else None
        res = scan(data, judge, opts, rules, min_severity, out=flagged_out)
    except json.JSONDecodeError as e:
        _fail(UsageError(f"--judge-options is not valid JSON: {e}"))
        return
    except UsageError as e:
        _fail(e)
        return
    if as_json:
        out.print_json(json.dumps(res.summary()))
    else:
        out.print(scan_table(res))
    if res.flagged_share > threshold:
        console.print(f"[red]{len(res.flagged)} of {res.examples} examples flagged "
                      f"({100 * res.flagged_share:.1f}% > {100 * threshold:.1f}%)[/]")
        raise typer.Exit(1)


# -- report / compare (metrics + report module; shells over babelsafe.report.html / babelsafe.compare) --
@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory made by `babelsafe run`."),
    compare: Optional[Path] = typer.Option(None, "--compare", help="A second run dir: add a paired comparison."),
    max_examples: int = typer.Option(2000, "--max-examples", help="Examples kept in the report's browser."),
) -> None:
    """Recompute summary.json and write report.html, results.csv and results.parquet for a run."""
    from .report.html import report_command

    try:
        report_command(run_dir, compare=compare, max_examples=max_examples)
    except UsageError as e:
        _fail(e)


@app.command("compare")
def compare_(
    run_a: Path = typer.Argument(..., help="Run A (e.g. before fine-tuning / without the defense)."),
    run_b: Path = typer.Argument(..., help="Run B (e.g. after fine-tuning / with the defense)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full comparison as JSON here."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge to compare on (default: A's first judge)."),
) -> None:
    """Paired per-prompt comparison of two runs: B - A unsafe rate per language, intervals, McNemar p."""
    from .compare import compare_command

    try:
        compare_command(run_a, run_b, json_out=json_out, judge=judge)
    except UsageError as e:
        _fail(e)
        return
    if json_out is not None:
        console.print(f"wrote {json_out}")
