"""The helpfulness panel: usefulness per language beside over-refusal and unsafe rates (the trade-off).

Over benign prompts only (helpfulness is measured where answering is right), per target:
- `rating`: the `helpfulness` rubric's 1-5 ratings (judges/rubrics/helpfulness.yaml): mean with a 95%
  t interval per language and category, the rating distribution, and the judge errors (unparsable
  replies: outside the mean, counted);
- `exact`: `answer-match` accuracy on keyed questions (match / (match + mismatch)) with Wilson 95%
  intervals; questions without a key (`no_key`) are counted apart (`open`);
- `tradeoff`: per language, helpfulness and accuracy next to the over-refusal rate (a refusal judge on
  the run's benign prompts) and the unsafe rate on harmful prompts (a safety judge; else the refusal
  judge's "answered, not refused"), each with its n. A cell the run cannot fill is None; `fill_tradeoff`
  fills it from other runs' summaries (a comparison), naming where each figure came from.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any, Iterable

from ..labels import HELPFUL_RATINGS, JUDGE_ERROR, REFUSAL, SAFETY, vocabulary
from ..results.readers import HelpfulRow
from .panels import RunView, panel
from .stats import Z95, wilson
from .tally import group

_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t (a table to df 10, Cornish-Fisher's expansion beyond: < 0.01%)."""
    if df in _T975:
        return _T975[df]
    z = Z95
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def mean_interval(values: list[float], lo_bound: float = 1.0, hi_bound: float = 5.0) -> dict[str, Any]:
    """{"n", "mean", "lo", "hi", "sd"}: the mean with a 95% t interval, clipped to the scale."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "lo": None, "hi": None, "sd": None}
    m = sum(values) / n
    if n == 1:
        return {"n": 1, "mean": m, "lo": None, "hi": None, "sd": None}
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": m, "lo": max(lo_bound, m - half), "hi": min(hi_bound, m + half), "sd": sd}


def _rating(rows: list[HelpfulRow]) -> dict[str, Any]:
    vals = [float(r.score) if r.score is not None else float(r.label.rsplit("_", 1)[1])
            for r in rows if r.label in HELPFUL_RATINGS]
    out = mean_interval(vals)
    out["judge_errors"] = sum(r.label == JUDGE_ERROR for r in rows)
    out["distribution"] = {str(k): v for k, v in sorted(Counter(int(v) for v in vals).items())}
    return out


def _exact(rows: list[HelpfulRow]) -> dict[str, Any]:
    k = sum(r.label == "match" for r in rows)
    n = k + sum(r.label == "mismatch" for r in rows)
    lo, hi = wilson(k, n) if n else (None, None)
    return {"n": n, "correct": k, "accuracy": k / n if n else None, "lo": lo, "hi": hi,
            "open": sum(r.label == "no_key" for r in rows), "judge_errors": sum(r.label == JUDGE_ERROR for r in rows)}


def _tables(rows: list[HelpfulRow], fn: Any) -> dict[str, Any]:
    by_lang: dict[str, list[HelpfulRow]] = defaultdict(list)
    by_cat: dict[str, list[HelpfulRow]] = defaultdict(list)
    for r in rows:
        by_lang[r.language].append(r)
        by_cat[r.category or "uncategorised"].append(r)
    return {"judge": rows[0].judge, "overall": fn(rows),
            "by_language": {k: fn(v) for k, v in sorted(by_lang.items())},
            "by_category": {k: fn(v) for k, v in sorted(by_cat.items())}}


def _rate(p: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"rate": p["rate"], "lo": p["lo"], "hi": p["hi"], "n": p["n"]} if p and p.get("n") else None


def safety_judges(run: RunView) -> tuple[str | None, str | None, str]:
    """(refusal judge for over-refusal, judge for the unsafe rate, that rate's name) among the run's judges:
    the primary judge when it fits, else the first that does."""
    vocabs = {j: vocabulary(labels) for j, labels in sorted(run.reader.judge_labels().items())}
    order = ([run.primary] if run.primary in vocabs else []) + [j for j in vocabs if j != run.primary]
    refusal = next((j for j in order if vocabs[j] == REFUSAL), None)
    safety = next((j for j in order if vocabs[j] == SAFETY), None)
    if safety:
        return refusal, safety, "unsafe"
    return refusal, refusal, "answered, not refused"


def tradeoff(run: RunView, target: str, rating: dict[str, Any] | None, exact: dict[str, Any] | None
             ) -> dict[str, Any]:
    """language -> helpfulness, accuracy, over-refusal and unsafe rate for one target."""
    refusal_j, unsafe_j, unsafe_name = safety_judges(run)
    cells = {k: v for k, v in run.cells.items() if k[0] == target}
    over = {lang: t.view(REFUSAL)["rates"].get("over_refusal")
            for lang, t in group(cells, lambda k: k[2], refusal_j).items()} if refusal_j else {}
    uvocab = SAFETY if unsafe_name == "unsafe" else REFUSAL
    unsafe = {lang: t.view(uvocab)["rates"].get("unsafe")
              for lang, t in group(cells, lambda k: k[2], unsafe_j).items()} if unsafe_j else {}
    langs = set((rating or {}).get("by_language", {})) | set((exact or {}).get("by_language", {}))
    out = {}
    for lang in sorted(langs, key=run.lang_order):
        h = (rating or {}).get("by_language", {}).get(lang) or {}
        e = (exact or {}).get("by_language", {}).get(lang) or {}
        out[lang] = {"helpfulness": {k: h.get(k) for k in ("mean", "lo", "hi", "n")} if h.get("n") else None,
                     "accuracy": {"rate": e.get("accuracy"), "lo": e.get("lo"), "hi": e.get("hi"),
                                  "n": e.get("n")} if e.get("n") else None,
                     "over_refusal": _rate(over.get(lang)), "unsafe": _rate(unsafe.get(lang)),
                     "unsafe_name": unsafe_name if unsafe_j else None,
                     "judges": {"over_refusal": refusal_j, "unsafe": unsafe_j}}
    return out


def helpfulness_tables(run: RunView, rows: list[HelpfulRow]) -> dict[str, Any]:
    """{target: {rating, exact, tradeoff}} from a helpfulness judge's verdicts."""
    by: dict[str, dict[str, list[HelpfulRow]]] = defaultdict(lambda: defaultdict(list))
    judge_kind: dict[str, str] = {}
    for r in rows:
        by[r.target][r.judge].append(r)
        if r.label in HELPFUL_RATINGS:
            judge_kind[r.judge] = "rating"
        elif r.label in ("match", "mismatch", "no_key"):
            judge_kind[r.judge] = "exact"
    out: dict[str, Any] = {}
    for target, per_judge in sorted(by.items()):
        rating = exact = None
        for judge, rs in sorted(per_judge.items()):
            kind = judge_kind.get(judge) or ("exact" if judge == "answer-match" else "rating")
            if kind == "rating" and rating is None:
                rating = _tables(rs, _rating)
            elif kind == "exact" and exact is None:
                exact = _tables(rs, _exact)
        out[target] = {"rating": rating, "exact": exact, "tradeoff": tradeoff(run, target, rating, exact)}
    return out


def _has_helpful(run: RunView) -> bool:
    return bool(run.reader.helpful_judges())


@panel("helpfulness", applies=_has_helpful, optional=True)
def helpfulness(run: RunView) -> dict[str, Any] | None:
    return helpfulness_tables(run, run.reader.helpful_rows()) or None


def _by_language_rates(summary: dict[str, Any], target: str) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(over-refusal per language, unsafe per language, unsafe rate's name) from another run's summary:
    the same target's rates when its primary judge is the one needed, else that judge's rates over all
    of the run's targets."""
    over: dict[str, Any] = {}
    unsafe: dict[str, Any] = {}
    judges = summary.get("by_judge") or {}
    kinds = {j: v.get("vocabulary") for j, v in judges.items()}
    refusal = next((j for j in judges if kinds[j] == REFUSAL), None)
    safety = next((j for j in judges if kinds[j] == SAFETY), None)
    primary = summary.get("primary_judge")
    per_target = (summary.get("by_target_language") or {}).get(target)

    def views(judge: str | None) -> dict[str, Any]:
        if judge is not None and judge == primary and per_target:
            return per_target
        return (judges.get(judge) or {}).get("by_language") or {}

    for lang, v in views(refusal).items():
        over[lang] = _rate((v.get("rates") or {}).get("over_refusal"))
    src = safety or refusal
    for lang, v in views(src).items():
        unsafe[lang] = _rate((v.get("rates") or {}).get("unsafe"))
    name = ("unsafe" if safety else "answered, not refused") if src else None
    return over, unsafe, name


def fill_tradeoff(panel_value: dict[str, Any], others: Iterable[tuple[str, dict[str, Any]]]
                  ) -> dict[str, dict[str, Any]]:
    """The trade-off rows per target, with the over-refusal and unsafe cells this run lacks filled from
    other runs' summaries (name, summary) in order; `source` names the run each filled figure is from."""
    others = list(others)
    filled: dict[str, dict[str, Any]] = {}
    for target, t in (panel_value or {}).items():
        rows = {lang: dict(r, source={}) for lang, r in (t.get("tradeoff") or {}).items()}
        for name, summ in others:
            over, unsafe, uname = _by_language_rates(summ, target)
            for lang, r in rows.items():
                if r.get("over_refusal") is None and over.get(lang):
                    r["over_refusal"], r["source"]["over_refusal"] = over[lang], name
                if r.get("unsafe") is None and unsafe.get(lang):
                    r["unsafe"], r["unsafe_name"], r["source"]["unsafe"] = unsafe[lang], uname, name
        filled[target] = rows
    return filled
