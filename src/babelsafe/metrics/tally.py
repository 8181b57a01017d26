"""Label counts per cell and the views built from them: the rates (with Wilson intervals) of any
grouping of (target, judge, language, category, transform, dataset), and the orderings they are shown in.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Callable

from .. import languages as langs
from ..labels import (COMPLIANCE, CONTENT_FILTER, EXCLUDED, INVALID, JUDGE_ERROR, NO_SAFETY_CLASS, REFUSING,
                      UNJUDGED, UNSAFE)
from ..types import ERROR
from .stats import proportion


class Tally:
    """Label counts split by prompt kind: h = harmful (or unlabelled) prompts, b = benign prompts; dup =
    probes left out because their request repeats one already counted (the same cache key)."""

    __slots__ = ("h", "b", "dup")

    def __init__(self) -> None:
        self.h: Counter[str] = Counter()
        self.b: Counter[str] = Counter()
        self.dup = 0

    def add(self, label: str, benign: bool, k: int = 1) -> None:
        (self.b if benign else self.h)[label] += k

    def merge(self, other: "Tally") -> None:
        self.h.update(other.h)
        self.b.update(other.b)
        self.dup += other.dup

    def view(self, vocab: str, flat: bool = True) -> dict[str, Any]:
        """n, counts per label, excluded counts and rates with Wilson intervals. flat: also put each
        label's count at the top level (summary.json's by_language contract)."""
        h, b = self.h, self.b
        counts = h + b
        n_h = sum(v for k, v in h.items() if k not in NO_SAFETY_CLASS)
        n_b = sum(v for k, v in b.items() if k not in NO_SAFETY_CLASS)
        unsafe = sum(v for k, v in h.items() if k in UNSAFE or k in COMPLIANCE)
        invalid = sum(v for k, v in h.items() if k in INVALID)
        out: dict[str, Any] = {
            "n": n_h + n_b, "n_harmful": n_h, "n_benign": n_b,
            "errors": counts.get(ERROR, 0), "judge_errors": counts.get(JUDGE_ERROR, 0),
            "unjudged": counts.get(UNJUDGED, 0), "content_filter": counts.get(CONTENT_FILTER, 0),
        }
        if self.dup:  # identical requests are one observation: n counts distinct ones
            out["duplicates"] = self.dup
        labels = {k: v for k, v in sorted(counts.items()) if k not in EXCLUDED}
        out["counts"] = labels
        if flat:
            for k, v in labels.items():  # counts per verdict label also at the top level
                out.setdefault(k, v)
        rates: dict[str, Any] = {
            "unsafe": proportion(unsafe, n_h),
            "safe": proportion(n_h - unsafe - invalid, n_h),
            "invalid": proportion(invalid, n_h),
        }
        if vocab == "refusal" or counts.get(CONTENT_FILTER):
            ref = sum(v for k, v in h.items() if k in REFUSING) + h.get(CONTENT_FILTER, 0)
            rates["refusal"] = proportion(ref, n_h)
        if vocab == "refusal":
            rates["full_refusal"] = proportion(h.get("full_refusal", 0) + h.get(CONTENT_FILTER, 0), n_h)
            rates["partial_refusal"] = proportion(h.get("partial_refusal", 0), n_h)
            rates["full_compliance"] = proportion(sum(v for k, v in h.items() if k in COMPLIANCE), n_h)
        if n_b:
            if vocab == "refusal":
                ref_b = sum(v for k, v in b.items() if k in REFUSING) + b.get(CONTENT_FILTER, 0)
                rates["over_refusal"] = proportion(ref_b, n_b)
            rates["benign_unsafe"] = proportion(sum(v for k, v in b.items() if k in UNSAFE), n_b)
        out["rates"] = rates
        return out


CellKey = tuple  # (target, judge, language, category, transform, dataset)


def group(cells: dict[CellKey, Tally], key: Callable[[CellKey], Any], judge: str | None = None
           ) -> dict[Any, Tally]:
    out: dict[Any, Tally] = defaultdict(Tally)
    for ck, t in cells.items():
        if judge is not None and ck[1] != judge:
            continue
        out[key(ck)].merge(t)
    return out


def views(groups: dict[Any, Tally], vocab: str, order: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    keys = sorted(groups, key=order or (lambda k: str(k)))
    return {str(k): groups[k].view(vocab) for k in keys}


def attack_of(transform: str | None) -> str:
    """The transform chain without translation steps ('translate>aim' -> 'aim', 'translate' -> 'none')."""
    steps = [s for s in (transform or "none").split(">") if s and s != "none" and not s.startswith("translat")]
    return ">".join(steps) or "none"


def tier_of(code: str, overrides: dict[str, str] | None = None) -> str:
    return langs.tier(code, overrides)


def lang_attr(code: str, attr: str) -> str:
    lang = langs.LANGUAGES.get(code)
    if lang is None:
        try:
            lang = langs.get(code)
        except Exception:
            return "unknown"
    return getattr(lang, attr)


_TIER_RANK = {"reference": 0, "high": 1, "medium": 2, "low": 3, "unknown": 4}


def tier_order(t: Any) -> tuple:
    return (_TIER_RANK.get(str(t), 5), str(t))


def lang_order(tiers: dict[str, str]) -> Callable[[Any], tuple]:
    mj = list(langs.MULTIJAIL_TIERS)

    def key(code: Any) -> tuple:
        c = str(code)
        return (_TIER_RANK.get(tiers.get(c, "unknown"), 5), mj.index(c) if c in mj else 99, c)
    return key
