"""What the golden-output test compares: everything babelsafe computes from a run's store (summary,
paired comparison, export rows and examples, defense-export candidates), with the values that depend
on the clock or the temporary path taken out. Works on the code before and after the results/metrics
reshaping (it imports whichever layout is present), which is how the golden file was made."""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

_VOLATILE_RUN = ("created", "first_generation", "last_generation", "started", "finished", "schema_version")


def clean_summary(s: dict[str, Any]) -> dict[str, Any]:
    s = dict(s)
    for k in ("generated_at", "compute_s"):
        s.pop(k, None)
    s["run"] = {k: v for k, v in s["run"].items() if k not in _VOLATILE_RUN}
    return s


def capture(run_a: Path, run_b: Path) -> dict[str, Any]:
    from babelsafe.defense.export import find_candidates
    from babelsafe.metrics import summarize
    from babelsafe.reporting.exports import export_results
    try:
        from babelsafe.metrics.compare import compare
    except ImportError:  # the layout before metrics/ became a package
        from babelsafe.compare import compare

    summary = summarize(run_a)
    cmp = compare(run_a, run_b)
    cmp = {k: v for k, v in cmp.items() if k not in ("run_a", "run_b")}
    with tempfile.TemporaryDirectory() as d:
        exp = export_results(run_a / "results.sqlite", Path(d), primary_judge=summary["primary_judge"],
                             max_examples=60, tiers=summary["tiers"], workers=1)
        with open(exp["csv"], encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    cands, judge = find_candidates(run_a)
    return {"summary": clean_summary(summary), "compare": cmp, "csv": rows, "examples": exp["examples"],
            "candidates": [dict(c.__dict__) for c in cands], "candidates_judge": judge}
