"""`babelsafe run` and `babelsafe resume`: flags -> api.run / api.resume, with a progress bar."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from ..errors import UsageError
from .app import app, console, fail, out

# api (pydantic, the spec), render and rich are imported where a command needs them, so `--help`
# starts without them (docs/DESIGN.md, Speed decisions: start-up).


def _status_text(task: Any) -> str:
    """done/total, errors, cached, rate, elapsed and ETA as one plain text: rich's eight columns (markup
    parsed on every refresh) cost ~4 ms of CPU a refresh on a loaded 2-core machine, this ~1 ms."""
    f = task.fields
    done, total, rate = int(task.completed), task.total, f.get("rate", 0.0)
    elapsed = task.finished_time if task.finished else task.elapsed
    left = (total - done) / rate if total and rate > 0 and total > done else None
    return (f"{done}/{total if total is not None else '?'} errors {f.get('errors', 0)} cached "
            f"{f.get('cached', 0)} {rate:.1f}/s {_clock(elapsed)} ETA {_clock(left)}")


def _clock(seconds: float | None) -> str:
    """M:SS, or H:MM:SS from an hour on."""
    if seconds is None:
        return "-:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _with_progress(start: Callable[..., Any]) -> Any:
    """Call `start(on_progress=..., on_interrupt=...)` under a rich progress bar. Ctrl-C stops cleanly
    (finished work is kept); a second Ctrl-C aborts."""
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    class Status(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(_status_text(task), no_wrap=True, overflow="ellipsis")

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=14), Status(),
                  console=console.console, transient=False, refresh_per_second=4) as bar:
        task = bar.add_task("running", total=None, errors=0, cached=0, rate=0.0)

        last = [0.0]

        def on_progress(p: Any) -> None:
            # called once per finished probe; the bar redraws 4 times a second, so updating it more often
            # than ~30 times a second only costs CPU (~20 us a call, a tenth of the per-sample budget)
            now = time.monotonic()
            if now - last[0] < 0.03 and p.done < p.total:
                return
            last[0] = now
            el = max(1e-6, now - p.started)
            bar.update(task, total=p.total, completed=p.done, errors=p.errors, cached=p.cached, rate=p.done / el)

        def on_interrupt(run_dir: Path, presses: int) -> None:
            if presses > 1:
                console.print("[red]aborting[/]")
                raise SystemExit(130)
            console.print(f"[yellow]stopping: finishing writes; run `babelsafe resume {run_dir}` to continue[/]")

        result = start(on_progress=on_progress, on_interrupt=on_interrupt)
        bar.update(task, total=result.progress.total, completed=result.progress.done)
    return result


def _finish(result: Any, report: bool) -> None:
    from .. import api
    from . import render

    out.print(render.summary(out, result.summary))
    for line in render.language_findings(result.summary):
        out.print(line, soft_wrap=False)
    if result.summary.get("mcq"):  # multiple-choice runs: accuracy (their verdicts have no safety class)
        out.print(render.mcq(out, result.summary))
    if result.summary.get("helpfulness"):  # helpfulness probe: usefulness beside over-refusal and unsafe
        out.print(render.helpfulness(out, result.summary))
    if result.summary.get("xling"):  # cross-lingual answer consistency runs
        out.print(render.xling(out, result.summary))
    for entry in result.summary.get("scoring") or []:  # a benchmark scored by another criterion
        if entry.get("note"):
            console.print(f"[yellow]note:[/] {entry['note']}", soft_wrap=False)
    if report:  # written at the end of the run (one read of the store), else (e.g. on Ray) now
        path = getattr(result, "report", None) or api.report(result.run_dir, recompute=False).path
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
    defense: Optional[List[str]] = typer.Option(None, "--defense", help="Defense layer around the target "
                                                "(babelsafe list defenses)."),
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
    executor: Optional[str] = typer.Option(None, "--executor", help="local (default) or ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster: auto or ray://HOST:PORT "
                                                                  "(default: a local cluster)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Ray workers (shards of the run)."),
    gpus_per_worker: Optional[float] = typer.Option(None, "--gpus-per-worker", help="GPUs each Ray worker holds."),
) -> None:
    """Run datasets x transforms x targets, judge every answer, write the run dir."""
    from .. import api
    from ..spec import parse_json_object, parse_key_values
    from . import render

    try:
        ex = {k: v for k, v in dict(name=executor, address=address, workers=workers,
                                    gpus_per_worker=gpus_per_worker).items() if v is not None}
        if ex and "name" not in ex:
            ex["name"] = "ray"  # --workers / --address / --gpus-per-worker only mean something on Ray
        settings = dict(executor=ex or None,
            datasets=dataset or None, languages=languages, categories=categories, safety_config=safety_config,
            limit=limit, seed=seed, transforms=transform or None, judges=judge or None, concurrency=concurrency,
            rpm=rpm, tpm=tpm, retries=retries, timeout=timeout, out=out_dir, cache=False if no_cache else None,
            skip_bad_rows=True if skip_bad_rows else None,
            # the first target's settings
            target=target, model=model, base_url=base_url, api_key_env=api_key_env, system_prompt=system_prompt,
            temperature=temperature, max_tokens=max_tokens, extra_body=parse_json_object(extra_body, "--extra-body"),
            options=parse_key_values(option), defenses=list(defense) if defense else None)
        spec = api.resolve_spec(spec_file, **settings)
        if dry_run:
            p = api.plan(spec)
            out.print_json(json.dumps(p))
            out.print(render.plan_line(p))
            return
        result = _with_progress(lambda **cb: api.run(spec, report=report, **cb))
        _finish(result, report)
    except UsageError as e:
        fail(e)


@app.command()
def resume(run_dir: Path = typer.Argument(..., help="A run directory made by `babelsafe run`."),
           report: bool = typer.Option(True, "--report/--no-report"),
           executor: Optional[str] = typer.Option(None, "--executor", help="Override the run's executor."),
           address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (with ray).")) -> None:
    """Finish an interrupted run: finished work is kept, failed requests retried, nothing repeated.
    A run started with --executor ray resumes on Ray (each shard resumes its own store)."""
    from .. import api

    try:
        ex = {k: v for k, v in dict(name=executor, address=address).items() if v is not None}
        overrides = {"executor": ex} if ex else {}
        result = _with_progress(lambda **cb: api.resume(run_dir, report=report, **cb, **overrides))
        _finish(result, report)
    except UsageError as e:
        fail(e)
