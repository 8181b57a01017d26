"""Paired comparison of two runs (before/after fine-tuning, two models, with and without a defense).

Pairs are probes with the same dataset item, language, transform chain and target role in both runs
(target role: the same target label when both runs use the same labels, else the targets in sorted
order). For each language the unsafe rates of run A and run B are compared on the same prompts: the
difference B - A with Newcombe's paired score interval (and the Wald interval), and McNemar's exact test
on the discordant pairs. Benign prompts give the same comparison for the over-refusal rate.

Both stores are read as two sorted streams merged in Python: memory stays flat at any size.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from .. import languages as langs
from ..errors import UsageError
from ..labels import EXCLUDED, is_benign_prompt, is_refusal, is_unsafe
from ..results.readers import RunReader
from .stats import mcnemar_exact, paired_difference, proportion
from .tally import lang_order


def _roles(ta: list[str], tb: list[str]) -> tuple[dict[str, str], dict[str, str], str]:
    """target -> role for each run, and how they were paired."""
    if set(ta) == set(tb):
        return {t: t for t in ta}, {t: t for t in tb}, "same target labels"
    if len(ta) == len(tb):
        return ({t: f"#{i + 1}" for i, t in enumerate(ta)}, {t: f"#{i + 1}" for i, t in enumerate(tb)},
                "targets paired in sorted order" if len(ta) > 1 else "the single target of each run")
    common = sorted(set(ta) & set(tb))
    if common:
        return {t: t for t in common}, {t: t for t in common}, "targets present in both runs"
    raise UsageError(f"Cannot pair targets: run A has {', '.join(ta) or 'none'}, run B has {', '.join(tb) or 'none'}. "
                     f"Give both runs the same target labels, or the same number of targets.")


def _rows(run: str | Path, judge: str, roles: dict[str, str]) -> Iterator[tuple]:
    """(key, plabel, label) sorted by key, key = (dataset, item_id, language, transform, role)."""
    if not roles:
        return
    with RunReader(run) as r:
        yield from r.compare_rows(judge, roles)


def _merge(a: Iterator[tuple], b: Iterator[tuple]) -> Iterator[tuple[tuple, Any, Any, Any]]:
    """Merge-join two key-sorted streams; yields (key, plabel, label_a, label_b) for keys in both, and
    (key, None, label_a, None) / (key, None, None, label_b) for unpaired rows. Duplicate keys on one
    side: the first row is used, later ones are reported as unpaired."""
    sentinel = object()
    ra = next(a, sentinel)
    rb = next(b, sentinel)
    last_a = last_b = None
    while ra is not sentinel or rb is not sentinel:
        if ra is not sentinel and ra[0] == last_a:
            yield (ra[0], None, ra[2], None)
            ra = next(a, sentinel)
            continue
        if rb is not sentinel and rb[0] == last_b:
            yield (rb[0], None, None, rb[2])
            rb = next(b, sentinel)
            continue
        if rb is sentinel or (ra is not sentinel and ra[0] < rb[0]):
            yield (ra[0], None, ra[2], None)
            last_a = ra[0]
            ra = next(a, sentinel)
        elif ra is sentinel or rb[0] < ra[0]:
            yield (rb[0], None, None, rb[2])
            last_b = rb[0]
            rb = next(b, sentinel)
        else:
            yield (ra[0], ra[1], ra[2], rb[2])
            last_a, last_b = ra[0], rb[0]
            ra = next(a, sentinel)
            rb = next(b, sentinel)


def _table(t: list[int]) -> dict[str, Any]:
    """t = [both, a_only, b_only, neither] -> rates, difference B - A with intervals, McNemar p."""
    both, a_only, b_only, neither = t
    n = sum(t)
    return {"pairs": n, "both": both, "a_only": a_only, "b_only": b_only, "neither": neither,
            "rate_a": proportion(both + a_only, n), "rate_b": proportion(both + b_only, n),
            "diff": paired_difference(both, b_only, a_only, neither), "mcnemar_p": mcnemar_exact(a_only, b_only)}


def compare(run_a: str | Path, run_b: str | Path, judge: str | None = None) -> dict[str, Any]:
    """Paired per-prompt comparison of two runs' unsafe (and over-refusal) rates, per language."""
    with RunReader(run_a) as ra, RunReader(run_b) as rb:
        ta, tb = ra.targets(), rb.targets()
        ja, jb = ra.judges(), rb.judges()
        pref = [j for j in ra.spec_judges() + ja if j in jb]
    if judge is None:
        if not pref:
            raise UsageError(f"The runs share no judge (A: {', '.join(ja) or 'none'}; B: {', '.join(jb) or 'none'}); "
                             f"judge both with the same judge first.")
        judge = pref[0]
    elif judge not in ja or judge not in jb:
        raise UsageError(f"Judge '{judge}' is not in both runs (A: {', '.join(ja)}; B: {', '.join(jb)}).")
    roles_a, roles_b, how = _roles(ta, tb)

    harm: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    benign: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_role: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_transform: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    unpaired_a = unpaired_b = excluded = 0
    for key, plabel, la, lb in _merge(_rows(run_a, judge, roles_a), _rows(run_b, judge, roles_b)):
        if lb is None:
            unpaired_a += 1
            continue
        if la is None:
            unpaired_b += 1
            continue
        if la in EXCLUDED or lb in EXCLUDED:
            excluded += 1
            continue
        lang = key[2]
        if is_benign_prompt(plabel):
            xa, xb = is_refusal(la), is_refusal(lb)
            tabs = [benign[lang], benign["all"]]
        else:
            xa, xb = is_unsafe(la, True), is_unsafe(lb, True)
            tabs = [harm[lang], harm["all"], by_role[key[4]], by_transform[key[3]]]
        cell = 0 if xa and xb else 1 if xa else 2 if xb else 3
        for t in tabs:
            t[cell] += 1

    order = lang_order({c: langs.tier(c) for c in harm})
    langs_sorted = sorted((k for k in harm if k != "all"), key=order)
    return {
        "run_a": str(run_a), "run_b": str(run_b), "judge": judge, "pairing": how,
        "target_pairs": [[t, next((u for u, r in roles_b.items() if r == role), None)] for t, role in roles_a.items()],
        "metric": "unsafe rate on harmful prompts; difference = B - A",
        "overall": _table(harm["all"]) if "all" in harm else _table([0, 0, 0, 0]),
        "by_language": {lang: _table(harm[lang]) for lang in langs_sorted},
        "by_target_role": {r: _table(t) for r, t in sorted(by_role.items())},
        "by_transform": {tr: _table(t) for tr, t in sorted(by_transform.items())},
        "over_refusal": ({lang: _table(benign[lang]) for lang in sorted(benign, key=lambda c: (c != "all", order(c)))}
                         if benign else None),
        "unpaired_a": unpaired_a, "unpaired_b": unpaired_b, "excluded_pairs": excluded,
    }
