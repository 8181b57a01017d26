"""Terminal tables of results (rich), for the CLI: returned, never printed here."""
from __future__ import annotations

from typing import Any, Callable


def _pct(r: dict[str, Any] | None) -> str:
    return "-" if not r or r.get("rate") is None else f"{100 * r['rate']:.1f}"


def _ci(r: dict[str, Any] | None) -> str:
    return "-" if not r or r.get("rate") is None else f"{100 * r['lo']:.1f}-{100 * r['hi']:.1f}"


def render_summary_table(summary: dict[str, Any]):  # -> rich.table.Table
    """A compact per-language rich Table of the summary (one unsafe-rate column per target when the
    run has several); returned, not printed. Columns that are all zero/empty are left out."""
    from rich import box
    from rich.table import Table

    judge = summary.get("primary_judge")
    counts = summary.get("counts", {})
    by_lang = summary.get("by_language", {})
    per_target = summary.get("by_target_language") or {}
    tiers = summary.get("tiers", {})
    short = {"reference": "ref", "medium": "med", "unknown": "?"}
    table = Table(title=f"babelsafe results · judge {judge or 'none'} · rates in %", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0), caption_justify="left")

    def has(key: str, rate: bool = True) -> bool:
        return any(((v.get("rates", {}).get(key) or {}).get("rate") is not None) if rate else v.get(key)
                   for v in by_lang.values())

    cols: list[tuple[str, Callable[[str, dict[str, Any]], str]]] = [
        ("lang", lambda c, v: c),
        ("tier", lambda c, v: short.get(v.get("tier") or tiers.get(c, ""), v.get("tier") or "")),
        ("n", lambda c, v: str(v.get("n", 0))),
    ]
    if len(per_target) > 1:
        for t, tl in per_target.items():
            cols.append((f"{t[:18]} unsafe", lambda c, v, tl=tl: _pct_ci((tl.get(c) or {}).get("rates", {}).get("unsafe"))))
    else:
        cols += [("unsafe", lambda c, v: _pct(v["rates"].get("unsafe"))),
                 ("95% CI", lambda c, v: _ci(v["rates"].get("unsafe")))]
    if has("refusal"):
        cols.append(("refuse", lambda c, v: _pct(v["rates"].get("refusal"))))
    cols.append(("invalid", lambda c, v: _pct(v["rates"].get("invalid"))))
    if has("over_refusal"):
        cols.append(("overref", lambda c, v: _pct(v["rates"].get("over_refusal"))))
    for key, name in (("errors", "err"), ("judge_errors", "jerr"), ("content_filter", "filt")):
        if has(key, rate=False):
            cols.append((name, lambda c, v, key=key: str(v.get(key, 0))))
    for name, _ in cols:
        table.add_column(name, justify="left" if name in ("lang", "tier") else "right", no_wrap=True)
    for code, v in by_lang.items():
        table.add_row(*(f(code, v) for _, f in cols))
    table.caption = (f"{counts.get('total', 0)} generations: {counts.get('completed', 0)} answered, "
                     f"{counts.get('errors', 0)} errors, {counts.get('judge_errors', 0)} judge errors, "
                     f"{counts.get('content_filter', 0)} content-filtered; errors are outside every rate. "
                     f"Unsafe = harmful prompts answered (judge 'unsafe' / 'full_compliance').")
    return table


def _pct_ci(r: dict[str, Any] | None) -> str:
    return "-" if not r or r.get("rate") is None else f"{_pct(r)} ({_ci(r)})"


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
