"""The `xling` panel: cross-lingual answer consistency (XLingEval, Jin et al. 2024) per target x language.

Consistency: share of a language's answers the `consistency` judge found consistent with the same
target's pivot-language (English) answer, over answers it could score (judge errors and generation errors
apart, never in a rate), with a Wilson 95% interval; and mean chrF of the back-translated answer against
the pivot answer with a percentile bootstrap 95% interval over items (1000 resamples, seed 0).
Self-consistency (XLingEval's own consistency, with `samples=k`): mean pairwise chrF among k sampled answers
of a question, back-translated to the pivot language, per language (bootstrap interval over items).
Verifiability: `own` = share of answers the target itself calls factually correct (Yes) among answers with
a Yes/No reply (Wilson); `pairs` = accuracy and macro-F1 of its Yes/No on the item's reference answer
(positive) and another item's reference answer (negative), as XLingEval scores verifiability; an
unparsable reply counts as wrong there and is also counted apart.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ..results.readers import XlingRow
from .panels import RunView, panel
from .stats import bootstrap_means, percentile_interval, proportion

BOOTSTRAP = 1000


def _mean_ci(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    mean = sum(values) / len(values)
    ci = percentile_interval(bootstrap_means(values, BOOTSTRAP))
    return {"mean": round(mean, 2), "lo": ci[0] if ci else None, "hi": ci[1] if ci else None, "n": len(values)}


def _macro_f1(pairs: list[tuple[str, str]]) -> float | None:
    """Macro-F1 over the classes yes/no of (expected, got) pairs; `got` may be unparsable (wrong)."""
    if not pairs:
        return None
    f1s = []
    for cls in ("yes", "no"):
        tp = sum(e == cls and g == cls for e, g in pairs)
        fp = sum(e != cls and g == cls for e, g in pairs)
        fn = sum(e == cls and g != cls for e, g in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return round(sum(f1s) / len(f1s), 4)


def _cell(rows: list[XlingRow]) -> dict[str, Any]:
    labels = Counter(r.label for r in rows if r.outcome != "error" and r.label)
    chrfs = [float(r.extra["chrf"]) for r in rows
             if r.label in ("consistent", "inconsistent") and r.extra and isinstance(r.extra.get("chrf"), (int, float))]
    selfs = [float(r.extra["self_chrf"]) for r in rows
             if r.extra and isinstance(r.extra.get("self_chrf"), (int, float))]
    own: Counter = Counter()
    pairs: list[tuple[str, str]] = []
    for r in rows:
        flags = (r.extra or {}).get("verifiable") or {}
        if flags.get("own"):
            own[flags["own"]] += 1
        for role, expected in (("positive", "yes"), ("negative", "no")):
            if flags.get(role):
                pairs.append((expected, flags[role]))
    errors = [r for r in rows if r.outcome == "error"]
    return {
        "answers": len(rows), "consistent": proportion(labels["consistent"],
                                                       labels["consistent"] + labels["inconsistent"]),
        "chrf": _mean_ci(chrfs), "self_chrf": _mean_ci(selfs), "reference": labels["reference"], "judge_errors": labels["judge_error"],
        "unjudged": sum(1 for r in rows if r.outcome != "error" and not r.label),
        "errors": len(errors), "missing": sum(1 for r in errors if r.error_kind == "invalid_item"),
        "verifiable": {"own": proportion(own["yes"], own["yes"] + own["no"]), "unparsable": own["unparsable"],
                       "pairs": {"n": len(pairs),
                                 "accuracy": round(sum(e == g for e, g in pairs) / len(pairs), 4) if pairs else None,
                                 "macro_f1": _macro_f1(pairs),
                                 "unparsable": sum(g == "unparsable" for _, g in pairs)}},
    }


def xling_tables(rows: list[XlingRow]) -> dict[str, Any] | None:
    """{target: {pivot, basis, overall (languages but the pivot), by_language, errors (first few)}}."""
    if not rows:
        return None
    out: dict[str, Any] = {}
    by_target: dict[str, list[XlingRow]] = defaultdict(list)
    for r in rows:
        by_target[r.target].append(r)
    for target, rs in sorted(by_target.items()):
        pivots = Counter(r.extra.get("pivot") for r in rs if r.extra and r.extra.get("pivot"))
        bases = Counter(r.extra.get("basis") for r in rs if r.extra and r.extra.get("basis"))
        pivot = pivots.most_common(1)[0][0] if pivots else "en"
        by_lang: dict[str, list[XlingRow]] = defaultdict(list)
        for r in rs:
            by_lang[r.language].append(r)
        others = [r for r in rs if r.language != pivot]
        errs = [{"language": r.language, "item": r.item, "error_kind": r.error_kind, "error": r.error}
                for r in rs if r.outcome == "error"]
        jerrs = [{"language": r.language, "item": r.item, "error": r.verdict_error}
                 for r in rs if r.label == "judge_error"]
        out[target] = {"pivot": pivot, "basis": bases.most_common(1)[0][0] if bases else None,
                       "overall": _cell(others),
                       "by_language": {lang: _cell(v) for lang, v in sorted(by_lang.items(),
                                                                            key=lambda kv: (kv[0] != pivot, kv[0]))},
                       "errors": errs[:20], "judge_errors": jerrs[:20]}
        out[target]["self_consistency"] = any(c["self_chrf"]["n"] for c in out[target]["by_language"].values())
    return out


def _has_xling(run: RunView) -> bool:
    return run.reader.has_xling() and run.reader.has_xling_answers()


@panel("xling", applies=_has_xling, optional=True)
def xling(run: RunView) -> dict[str, Any] | None:
    """Cross-lingual answer consistency and verifiability per target and language (XLingEval)."""
    return xling_tables(run.reader.xling_rows())
