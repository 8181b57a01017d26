"""`babelsafe report`, `babelsafe compare`, `babelsafe calibrate`: flags -> api calls -> tables."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UsageError
from .app import app, console, fail, out

# api, render and rich are imported where a command needs them (docs/DESIGN.md, Speed decisions: start-up)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory made by `babelsafe run`."),
    compare: Optional[Path] = typer.Option(None, "--compare", help="A second run dir: add a paired comparison."),
    max_examples: int = typer.Option(2000, "--max-examples", help="Examples kept in the report's browser."),
    tradeoff_with: Optional[List[Path]] = typer.Option(
        None, "--tradeoff-with", help="Another run dir (e.g. a safety run of the same target) whose "
                                      "over-refusal and unsafe rates fill the helpfulness table (repeatable)."),
) -> None:
    """Recompute summary.json and write report.html, results.csv and results.parquet for a run."""
    from .. import api
    from . import render

    try:
        rep = api.report(run_dir, compare=compare, max_examples=max_examples, tradeoff_with=tradeoff_with)
        trade = None
        if rep.summary.get("helpfulness"):
            from ..metrics.helpful import fill_tradeoff
            from ..reporting.helpfulness import other_summaries

            others = [*(tradeoff_with or []), *([compare] if compare else [])]
            trade = fill_tradeoff(rep.summary["helpfulness"], other_summaries(others))
    except UsageError as e:
        fail(e)
    out.print(render.summary(out, rep.summary))
    for line in render.language_findings(rep.summary):
        out.print(line, soft_wrap=False)
    if rep.comparison is not None:
        out.print(render.comparison(out, rep.comparison))
    if rep.summary.get("helpfulness"):
        out.print(render.helpfulness(out, rep.summary, trade))
    out.print(f"report: {rep.path}")


@app.command("compare")
def compare_(
    run_a: Path = typer.Argument(..., help="Run A (e.g. before fine-tuning / without the defense)."),
    run_b: Path = typer.Argument(..., help="Run B (e.g. after fine-tuning / with the defense)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full comparison as JSON here."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge to compare on (default: A's first judge)."),
    pair_on: Optional[str] = typer.Option(None, "--pair-on", help="Pair probes on sample,language[,transform] "
                                          "(default sample,language; runs sharing several transforms add transform)."),
    transform_a: Optional[str] = typer.Option(None, "--transform-a", help="Only A's probes with this "
                                              "transform chain (none = the plain prompt)."),
    transform_b: Optional[str] = typer.Option(None, "--transform-b", help="Only B's probes with this "
                                              "transform chain, e.g. aim."),
) -> None:
    """Paired per-prompt comparison of two runs: B - A per language of the headline rate ('answered, not
    refused' with a refusal judge, 'unsafe' with a safety judge), intervals, McNemar p."""
    from .. import api
    from . import render

    try:
        result = api.compare(run_a, run_b, judge=judge, json_out=json_out, pair_on=pair_on,
                             transform_a=transform_a, transform_b=transform_b)
    except UsageError as e:
        fail(e)
    out.print(render.comparison(out, result))
    if json_out is not None:
        console.print(f"wrote {json_out}")


@app.command()
def calibrate(
    labels_file: Path = typer.Argument(..., help="CSV/JSONL with prompt, response, language, label."),
    judge: str = typer.Option("refusal", "--judge", help="Judge name or compact spec, e.g. 'cascade:first=refusal,"
                              "then=llm:rubric=xstest,target=openai:gpt-4o,below=0.8' (babelsafe list judges)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full result as JSON here."),
    options: Optional[str] = typer.Option(None, "--options", help="Judge options as JSON, e.g. "
                                          "'{\"target\": {\"type\": \"openai\", \"model\": \"gpt-4o\"}}'."),
    vocabulary: Optional[str] = typer.Option(None, "--vocabulary", help="refusal | safety (default: the labels')."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the 95% CIs (0: none)."),
    by: str = typer.Option("language", "--by", help="Group rows by this column of the labels file "
                           "(language, model, or any other)."),
    mistakes: int = typer.Option(0, "--mistakes", help="Show the N worst mistakes (most confident first)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite file keeping the judge's model calls "
                                         "(llm, cascade): calls in it are reused, so a stopped calibration "
                                         "resumes and a repeat costs nothing."),
    escalate_on: Optional[str] = typer.Option(None, "--escalate-on", help="label | refused: the escalation "
                                              "table's thresholds are on the label's confidence or on "
                                              "refused-vs-not's (a cascade's on=; default: the cascade's, "
                                              "else label)."),
) -> None:
    """Measure a judge against human labels: accuracy, kappa, per-class F1, confusion, by any column, and
    accuracy against the share a cascade would escalate (to choose its threshold)."""
    from .. import api
    from ..spec import parse_json_object
    from . import render

    if escalate_on is not None and escalate_on not in render.ESCALATE_ON:
        fail(UsageError(f"--escalate-on must be {' or '.join(render.ESCALATE_ON)}, not '{escalate_on}'."))
    try:
        result = api.calibrate(judge, labels_file, options=parse_json_object(options, "--options"),
                               vocabulary=vocabulary, bootstrap=bootstrap, json_out=json_out, by=by,
                               max_mistakes=max(mistakes, 50), cache=cache)
    except UsageError as e:
        fail(e)
    out.print(render.calibration(out, result))
    out.print(render.confusion(out, result))
    on = escalate_on or (result.get("cascade") or {}).get("on", "label")
    if on == "refused" and not result.get("escalation_refused") and result.get("escalation"):
        out.print(f"--escalate-on refused: judge '{judge}' gives no confidence of refused vs not (the refusal "
                  "judge does); the table's thresholds are on the label's confidence.", highlight=False)
        on = "label"
    if result.get("escalation"):
        out.print(render.escalation(out, result, on))
        for line in render.escalation_curve(result, on=on):
            out.print(line, highlight=False)
        ways = render.escalation_ways(out, result)
        if ways is not None:
            out.print(ways)
    line = render.cascade_line(result)
    if line:
        out.print(line)
    for line in render.answer_languages(result):
        out.print(line)
    if mistakes:
        out.print(render.mistakes(out, result, mistakes))
    if json_out is not None:
        console.print(f"wrote {json_out}")
