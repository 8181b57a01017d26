"""Paired comparison of two runs (before/after fine-tuning, two models, with and without a defense).

Pairs are probes with the same dataset item, language, transform chain and target role in both runs
(target role: the same target label when both runs use the same labels, else the targets in sorted
order). For each language the unsafe rates of run A and run B are compared on the same prompts: the
difference B - A with Newcombe's paired score interval (and the Wald interval), and McNemar's exact test
on the discordant pairs. Benign prompts give the same comparison for the over-refusal rate.

Both stores are read as two sorted streams merged in Python: memory stays flat at any size.
"""
from __future__ import annotations

import json
import sys
import types
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from . import languages as langs
from .errors import UsageError
from .metrics import (BENIGN_PROMPT_LABELS, CONTENT_FILTER, EXCLUDED, REFUSAL_LABELS, _lang_order, _loads,
                      is_unsafe, mcnemar_exact, paired_difference, proportion)
from .store import connect


def _store(run: str | Path) -> Path:
    p = Path(run)
    db = p / "results.sqlite" if p.is_dir() else p
    if not db.exists():
        raise UsageError(f"{run} is not a babelsafe run directory (no results.sqlite).")
    return db


def _targets(con: Any) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT target FROM generations ORDER BY target")]


def _judges(con: Any) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT judge FROM verdicts ORDER BY judge")]


def _spec_judges(con: Any) -> list[str]:
    row = con.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
    spec = _loads(row[0]) if row else None
    if isinstance(spec, dict):
        return [j.get("name") for j in spec.get("judges", []) if isinstance(j, dict)]
    return []


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


_SQL = """
SELECT dataset, item_id, language, transform, CASE target {case} END AS role, plabel, lab FROM (
  SELECT CAST(s.dataset AS TEXT) AS dataset, CAST(s.item_id AS TEXT) AS item_id, p.language AS language, p.transform AS transform,
    g.target AS target,
    CASE WHEN json_valid(s.meta) THEN lower(coalesce(json_extract(s.meta, '$.label'), '')) ELSE '' END AS plabel,
    CASE WHEN g.outcome = 'error' THEN 'error' WHEN g.outcome = 'content_filter' THEN 'content_filter'
         WHEN v.label IS NULL THEN 'unjudged' ELSE v.label END AS lab
  FROM generations g JOIN probes p ON p.probe_key = g.probe_key JOIN samples s ON s.sample_key = p.sample_key
  LEFT JOIN verdicts v ON v.probe_key = g.probe_key AND v.target = g.target AND v.judge = ?)
WHERE role IS NOT NULL ORDER BY dataset, item_id, language, transform, role
"""


def _rows(db: Path, judge: str, roles: dict[str, str]) -> Iterator[tuple]:
    """(key, plabel, label) sorted by key, key = (dataset, item_id, language, transform, role)."""
    if not roles:
        return
    con = connect(db, readonly=True)
    try:
        sql = _SQL.format(case=" ".join("WHEN ? THEN ?" for _ in roles))
        params: list[Any] = []
        for t, r in roles.items():  # the CASE pairs come first in the text, then the judge
            params += [t, r]
        cur = con.execute(sql, params + [judge])
        while True:
            batch = cur.fetchmany(20_000)
            if not batch:
                return
            for d, i, lang, tr, role, plabel, lab in batch:
                yield (str(d), str(i), str(lang), str(tr), str(role)), plabel, lab
    finally:
        con.close()


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


def _refusal(label: str) -> bool:
    return label in REFUSAL_LABELS or label == CONTENT_FILTER


def _table(t: list[int]) -> dict[str, Any]:
    """t = [both, a_only, b_only, neither] -> rates, difference B - A with intervals, McNemar p."""
    both, a_only, b_only, neither = t
    n = sum(t)
    return {"pairs": n, "both": both, "a_only": a_only, "b_only": b_only, "neither": neither,
            "rate_a": proportion(both + a_only, n), "rate_b": proportion(both + b_only, n),
            "diff": paired_difference(both, b_only, a_only, neither), "mcnemar_p": mcnemar_exact(a_only, b_only)}


def compare(run_a: str | Path, run_b: str | Path, judge: str | None = None) -> dict[str, Any]:
    """Paired per-prompt comparison of two runs' unsafe (and over-refusal) rates, per language."""
    db_a, db_b = _store(run_a), _store(run_b)
    ca, cb = connect(db_a, readonly=True), connect(db_b, readonly=True)
    try:
        ta, tb = _targets(ca), _targets(cb)
        ja, jb = _judges(ca), _judges(cb)
        pref = [j for j in _spec_judges(ca) + ja if j in jb]
    finally:
        ca.close()
        cb.close()
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
    for key, plabel, la, lb in _merge(_rows(db_a, judge, roles_a), _rows(db_b, judge, roles_b)):
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
        if plabel in BENIGN_PROMPT_LABELS:
            xa, xb = _refusal(la), _refusal(lb)
            tabs = [benign[lang], benign["all"]]
        else:
            xa, xb = is_unsafe(la, True), is_unsafe(lb, True)
            tabs = [harm[lang], harm["all"], by_role[key[4]], by_transform[key[3]]]
        cell = 0 if xa and xb else 1 if xa else 2 if xb else 3
        for t in tabs:
            t[cell] += 1

    order = _lang_order({c: langs.tier(c) for c in harm})
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


def render_compare_table(result: dict[str, Any]):  # -> rich.table.Table
    """Per-language rich Table of a comparison; not printed."""
    from rich import box
    from rich.table import Table

    t = Table(title=f"A = {result['run_a']}  vs  B = {result['run_b']}  (judge {result['judge']})",
              title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), caption_justify="left",
              caption=f"Unsafe rate in %; B-A in points with Newcombe's paired 95% interval; exact McNemar p. "
                      f"Pairs: {result['pairing']}; unpaired A {result['unpaired_a']}, B {result['unpaired_b']}; "
                      f"pairs with an error or judge error left out: {result['excluded_pairs']}.")
    for col in ("lang", "pairs", "A", "B", "B-A", "95% CI", "A only", "B only", "McNemar p"):
        t.add_column(col, justify="left" if col == "lang" else "right", no_wrap=True)
    rows = list(result["by_language"].items()) + [("all", result["overall"])]
    for i, (lang, r) in enumerate(rows):
        d = r["diff"]
        pa, pb = r["rate_a"]["rate"], r["rate_b"]["rate"]
        t.add_row(lang, str(r["pairs"]), "-" if pa is None else f"{100 * pa:.1f}",
                  "-" if pb is None else f"{100 * pb:.1f}",
                  "-" if d["diff"] is None else f"{100 * d['diff']:+.1f}",
                  "-" if d["diff"] is None else f"{100 * d['lo']:+.1f}..{100 * d['hi']:+.1f}",
                  str(r["a_only"]), str(r["b_only"]), f"{r['mcnemar_p']:.3g}",
                  end_section=(i == len(rows) - 2))
    return t


# -- CLI commands (wired in cli.py) --------------------------------------------------------------
def compare_command(
    run_a: Path,
    run_b: Path,
    json_out: Path | None = None,
    judge: str | None = None,
) -> dict[str, Any]:
    """`babelsafe compare RUN_A RUN_B [--json OUT] [--judge NAME]`: print the table, optionally save JSON."""
    from rich.console import Console

    result = compare(run_a, run_b, judge=judge)
    Console().print(render_compare_table(result))
    if json_out is not None:
        Path(json_out).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return result


class _CallableModule(types.ModuleType):
    """`babelsafe.compare(a, b)` works whether it resolves to this module or to the API function."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
