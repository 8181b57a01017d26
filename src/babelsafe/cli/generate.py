"""`babelsafe generate`: flags -> api.generate, with a progress bar and the coverage table."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import UsageError
from .app import app, console, fail, out

# api, render and rich are imported where a command needs them (docs/DESIGN.md, Speed decisions: start-up)


@app.command()
def generate(
    target: str = typer.Option(..., "--target", help="Generator: openai:MODEL@URL, local, or a JSON target spec."),
    out_file: Path = typer.Option(..., "--out", "-o", help="The suite to write (.jsonl); calls are stored "
                                                           "beside it in <name>.gen/."),
    categories: Optional[str] = typer.Option(None, "--categories", help="Comma-separated harm categories "
                                             "(default: all; with --evolve: the run's unsafe ones)."),
    styles: Optional[str] = typer.Option(None, "--styles", help="Comma-separated ASTRAL styles (default: all 6)."),
    techniques: Optional[str] = typer.Option(None, "--techniques", help="Comma-separated persuasion "
                                             "techniques (default: all 5)."),
    languages: str = typer.Option("en", "--languages", "-l", help="Comma-separated ISO codes."),
    per_cell: int = typer.Option(3, "--per-cell", "-n", help="Tests asked for per matrix cell."),
    critic: Optional[str] = typer.Option(None, "--critic", help="Critic target (same forms as --target)."),
    dedup: float = typer.Option(0.8, "--dedup", help="Near-duplicate Jaccard threshold; 0 turns it off."),
    evolve: Optional[Path] = typer.Option(None, "--evolve", help="A run dir: seed from its prompts that "
                                          "got unsafe answers."),
    evolve_judge: Optional[str] = typer.Option(None, "--evolve-judge", help="Only this judge's verdicts."),
    shots: int = typer.Option(3, "--shots", help="Few-shot examples per generator request."),
    seed: int = typer.Option(0, "--seed"),
    concurrency: int = typer.Option(8, "--concurrency", "-c", help="Requests in flight per target."),
) -> None:
    """Generate a test suite: category x style x technique x language, with a critic and dedup."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .. import api
    from . import render

    columns = [TextColumn("[bold]generating"), BarColumn(), MofNCompleteColumn(),
               TextColumn("errors {task.fields[errors]}"), TextColumn("cached {task.fields[cached]}"),
               TimeElapsedColumn()]
    try:
        with Progress(*columns, console=console.console, transient=False) as bar:
            task = bar.add_task("cells", total=None, errors=0, cached=0)

            def on_progress(p: Any) -> None:
                bar.update(task, total=p.total, completed=p.done, errors=p.errors, cached=p.cached)

            def on_interrupt(gen_dir: Path, presses: int) -> None:
                if presses > 1:
                    raise SystemExit(130)
                console.print("[yellow]stopping: rerun the same command to continue (nothing is repeated)[/]")

            result = api.generate(target, out_file, categories=categories, styles=styles,
                                  techniques=techniques, languages=languages, per_cell=per_cell,
                                  critic=critic, dedup=dedup or None, evolve=evolve, evolve_judge=evolve_judge,
                                  shots=shots, seed=seed, concurrency=concurrency,
                                  on_progress=on_progress, on_interrupt=on_interrupt)
    except UsageError as e:
        fail(e)
    out.print(render.coverage(out, result.coverage))
    reasons: dict[str, int] = {}
    for r in result.rejected:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    detail = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none"
    console.print(f"wrote {len(result.tests)} tests to {result.out}; rejected {len(result.rejected)} "
                  f"({detail}): {result.gen_dir / 'rejected.jsonl'}", highlight=False)
    console.print(f"run them: babelsafe run -d {result.out}", highlight=False)
    if result.interrupted:
        console.print("[yellow]interrupted — rerun the same command to finish[/]")
        raise typer.Exit(130)
