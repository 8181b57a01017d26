"""`babelsafe guard serve` and `babelsafe defend export | scan`: flags -> api calls -> tables."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import UsageError
from .app import app, console, fail, out

# api, render and rich are imported where a command needs them (docs/DESIGN.md, Speed decisions: start-up)

guard_app = typer.Typer(no_args_is_help=True, help="The multilingual guardrail proxy.")
defend_app = typer.Typer(no_args_is_help=True, help="Safety fine-tuning data: export from runs, scan datasets.")
app.add_typer(guard_app, name="guard")
app.add_typer(defend_app, name="defend")


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
    from .. import api

    try:
        cfg = api.guard_config(upstream, judge=judge, check=check, judge_options=judge_options,
                               input_judge=input_judge, pivot=pivot, translator=translator,
                               block_labels=block_labels, token_env=token_env, upstream_key_env=upstream_key_env,
                               fail_closed=fail_closed, max_request_bytes=max_request_bytes, timeout=timeout,
                               audit_log=audit_log or None, stream_check_chars=stream_check_chars)
        api.guard(cfg, host, port, on_ready=lambda: console.print(
            f"babelsafe guard on http://{host}:{port}/v1 -> {upstream} (judge {judge})", highlight=False))
    except UsageError as e:
        fail(e)


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
    recipe: str = typer.Option("unsafe-answers", "--recipe", help="unsafe-answers (refusals where the model "
                               "answered unsafely) | self-defense (a refusal for every harmful prompt in every "
                               "language: MultiJail's Self-Defense)."),
) -> None:
    """Build SFT / DPO safety fine-tuning data from a judged run (refusals + helpful answers, judge-checked)."""
    from .. import api
    from . import render

    try:
        res = api.defend_export(run_dir, fmt, out_file, refusal_target, helpful_target, judge, dpo_style, hf,
                                recipe=recipe)
    except UsageError as e:
        fail(e)
    out.print(render.balance(out, res.examples))
    for note in res.notes:
        console.print(note, highlight=False)
    console.print(", ".join(f"{k} {v}" for k, v in sorted(res.stats.items())), highlight=False)
    console.print(f"wrote {len(res.records)} examples to {res.out}" + (f" and {res.hf_path}" if res.hf_path else ""))


@defend_app.command("scan")
def defend_scan(
    data: Path = typer.Argument(..., help="Fine-tuning set: OpenAI chat JSONL ({\"messages\": [...]} per line)."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge for assistant turns: a safety judge (guard, "
                                        "llm) flags unsafe completions; without one, the refusal judge only flags "
                                        "refuse-then-comply and compliance under jailbreak prompts."),
    judge_options: Optional[str] = typer.Option(None, "--judge-options", help="Judge options as JSON."),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Your own rules YAML (default: the shipped rules)."),
    threshold: float = typer.Option(0.0, "--threshold", help="Exit 1 when the flagged share exceeds this."),
    min_severity: int = typer.Option(1, "--min-severity", help="Ignore flags below this severity (1-3)."),
    flagged_out: Optional[Path] = typer.Option(None, "--out", help="Write flagged examples here (JSONL)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    languages: Optional[str] = typer.Option(
        None, "-l", "--languages", help="The set's languages, e.g. en,zh,bn: the prior for short lines."),
) -> None:
    """Screen a fine-tuning set for safety-eroding examples, by language and category."""
    from .. import api
    from ..spec import parse_json_object
    from . import render

    if judge is None:
        # No safety judge runs offline without a model: say what the default cannot see.
        judge = "refusal"
        console.print("[yellow]note: no --judge given: assistant turns are checked with the 'refusal' judge, which "
                      "flags refuse-then-comply and compliance under jailbreak prompts but NOT plain harmful "
                      "compliance. For that, pass a safety judge, e.g. --judge guard --judge-options "
                      "'{\"target\": \"openai:llama-guard-3@http://127.0.0.1:8000/v1\"}'.[/]")
    try:
        res = api.defend_scan(data, judge, parse_json_object(judge_options, "--judge-options"), rules,
                              min_severity, out=flagged_out, languages=languages)
    except UsageError as e:
        fail(e)
    if as_json:
        out.print_json(json.dumps(res.summary()))
    else:
        out.print(render.scan(out, res))
    if res.flagged_share > threshold:
        console.print(f"[red]{len(res.flagged)} of {res.examples} examples flagged "
                      f"({100 * res.flagged_share:.1f}% > {100 * threshold:.1f}%)[/]")
        raise typer.Exit(1)
