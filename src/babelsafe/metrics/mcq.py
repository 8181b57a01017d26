"""Multiple-choice panels: accuracy per target × language and category, and the contamination probe.

`mcq`: accuracy = correct / answered items (an answer naming no single option counts as not correct and is
also reported as `no_answer_rate`), with Wilson 95% intervals.
`contamination` (Yao et al. 2024, "Data Contamination Can Cross Language Barriers"): the same items with
every wrong option replaced by another question's correct answer. Per target and language: accuracy on the
original and on the swapped items, paired by item; delta = swapped - original with Newcombe's paired
interval and an exact McNemar test. A clean model gains on the easier swapped set; a gain near zero or a
drop signals memorised items (the paper compares against clean reference models; no fixed threshold).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..results.readers import MCQRow
from .panels import RunView, panel
from .stats import mcnemar_exact, paired_difference, wilson


def _acc(rows: list[MCQRow]) -> dict[str, Any]:
    n = len(rows)
    k = sum(r.label == "correct" for r in rows)
    lo, hi = wilson(k, n)
    return {"n": n, "correct": k, "accuracy": k / n if n else None, "lo": lo, "hi": hi,
            "no_answer_rate": sum(r.label == "no_answer" for r in rows) / n if n else None}


def accuracy_tables(rows: list[MCQRow]) -> dict[str, Any]:
    """{target: {judge, overall, by_language, by_category, by_variant}} over original and swapped items."""
    out: dict[str, Any] = {}
    by_target: dict[tuple[str, str], list[MCQRow]] = defaultdict(list)
    for r in rows:
        by_target[(r.target, r.judge)].append(r)
    for (target, judge), rs in sorted(by_target.items()):
        orig = [r for r in rs if r.variant == "original"] or rs
        groups: dict[str, dict[str, list[MCQRow]]] = {"by_language": defaultdict(list),
                                                      "by_category": defaultdict(list),
                                                      "by_variant": defaultdict(list)}
        for r in orig:
            groups["by_language"][r.language].append(r)
            groups["by_category"][r.category or "uncategorised"].append(r)
        for r in rs:
            groups["by_variant"][r.variant].append(r)
        out[target] = {"judge": judge, "overall": _acc(orig),
                       **{g: {k: _acc(v) for k, v in sorted(d.items())} for g, d in groups.items()}}
    return out


def contamination_gap(rows: list[MCQRow]) -> dict[str, Any] | None:
    """Paired original vs swapped accuracy per target and language (and 'all'); None without both variants."""
    pairs: dict[tuple, dict[str, bool]] = defaultdict(dict)
    for r in rows:
        pairs[(r.target, r.language, r.dataset, r.item, r.transform)][r.variant] = r.label == "correct"
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (target, lang, *_), g in pairs.items():
        if "original" not in g or "swapped" not in g:
            continue
        s, o = g["swapped"], g["original"]
        for key in ((target, lang), (target, "all")):
            cells[key][0 if s and o else 1 if s else 2 if o else 3] += 1
    if not cells:
        return None
    out: dict[str, Any] = {}
    for (target, lang), (a, b, c, d) in sorted(cells.items()):
        diff = paired_difference(a, b, c, d)
        out.setdefault(target, {})[lang] = {
            "pairs": a + b + c + d, "accuracy_swapped": diff["p1"], "accuracy_original": diff["p2"],
            "delta": diff["diff"], "lo": diff["lo"], "hi": diff["hi"], "mcnemar_p": mcnemar_exact(b, c)}
    return out


def _has_mcq(run: RunView) -> bool:
    return any(labels & {"correct", "incorrect", "no_answer"}
               for labels in (set(v) for v in run.reader.judge_labels().values()))


@panel("mcq", applies=_has_mcq, optional=True)
def mcq(run: RunView) -> dict[str, Any] | None:
    return accuracy_tables(run.reader.mcq_rows()) or None


@panel("contamination", applies=_has_mcq, optional=True)
def contamination(run: RunView) -> dict[str, Any] | None:
    return contamination_gap(run.reader.mcq_rows())
