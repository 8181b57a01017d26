"""report.html: one self-contained file (inline CSS, inline SVG charts, one inline script guarded by a
Content-Security-Policy hash) that opens offline. Also writes results.csv / results.parquet.

Safety of the page: every model output reaches the page either through Jinja2 autoescaping or as JSON
inside <script type="application/json"> with <, > and & escaped as \\u003c, \\u003e, \\u0026; the
examples browser renders it with textContent only. The CSP allows no script but the report's own.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import time
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemBytecodeCache, FunctionLoader, select_autoescape
from markupsafe import Markup

from .. import __version__
from .. import languages as langs
from ..errors import UsageError
from ..results.summary_file import read_summary, write_summary
from . import svg
from .exports import export_results, n_strata, summarize_and_export

log = logging.getLogger(__name__)

REPORT = "report.html"


def _template_text(name: str) -> str:
    return resources.files("babelsafe.reporting").joinpath("templates", name).read_text(encoding="utf-8")


def json_for_script(obj: Any) -> Markup:
    """JSON safe to embed in <script type="application/json">: no raw <, >, & (so no </script>, no
    comment/CDATA tricks) and no raw U+2028/2029."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    text = (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return Markup(text)


def _fmt_pct(p: Any, ci: bool = True) -> str:
    if not isinstance(p, dict) or p.get("rate") is None:
        return "–"
    s = f"{100 * p['rate']:.1f}%"
    if ci and p.get("lo") is not None:
        s += f" ({100 * p['lo']:.1f}–{100 * p['hi']:.1f})"
    return s


def _fmt_time(ts: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts), tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError):
        return "–"


def _fmt_num(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.3g}"
    if isinstance(x, int):
        return f"{x:,}"
    return "–" if x is None else str(x)


def _sum_props(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from ..metrics import proportion
    k = sum(r["k"] for r in rows if r)
    n = sum(r["n"] for r in rows if r)
    return proportion(k, n)


def _hl(summary: dict[str, Any]) -> str:
    """The headline rate's honest name: 'unsafe' (safety judge) or 'answered, not refused' (refusal judge)."""
    return str((summary.get("headline") or {}).get("name") or "unsafe")


def _charts(summary: dict[str, Any]) -> dict[str, Markup]:
    primary = summary.get("primary_judge")
    by_lang = summary.get("by_language", {})
    lang_codes = list(by_lang)
    hl = _hl(summary)  # 'unsafe', or 'answered, not refused' for a refusal judge: never 'unsafe' there
    refusal = (summary.get("headline") or {}).get("vocabulary") == "refusal"
    charts: dict[str, Markup] = {}
    # MultiJail layout: unsafe / safe / invalid per language (answered / refused / invalid for a refusal judge)
    shown = {"unsafe": "answered" if refusal else "unsafe", "safe": "refused" if refusal else "safe",
             "invalid": "invalid"}
    charts["stacked"] = svg.stacked(
        lang_codes,
        {shown[part]: {c: (v["rates"].get(part) or {}).get("rate") for c, v in by_lang.items()}
         for part in ("unsafe", "safe", "invalid")},
        {shown["unsafe"]: "#c0392b", shown["safe"]: "#27ae60", "invalid": "#95a5a6"},
        " / ".join(shown.values()) + " by language")
    # heatmap language x category
    lc = summary.get("by_language_category", {})
    cats = sorted({c for row in lc.values() for c, p in row.items() if p and p.get("n")})
    cell = {(lang, c): p for lang, row in lc.items() for c, p in row.items()}
    names = {c: f"{c} · {langs.name(c)}" for c in lc}
    charts["heatmap"] = svg.heatmap(list(lc), cats, cell, names, f"{hl} rate by language and category", measure=hl)
    # tier bars (one series per target)
    bt = summary.get("by_target_tier", {})
    tiers = []
    for t in bt.values():
        for k in t:
            if k not in tiers:
                tiers.append(k)
    charts["tiers"] = svg.bars(tiers, {tg: {k: v["rates"]["unsafe"] for k, v in t.items()} for tg, t in bt.items()},
                               f"{hl} rate by resource tier", f"{hl} rate")
    # per-attack bars: per target from the breakdown (unsafe k/n are additive)
    acc: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in summary.get("breakdown", []):
        if r.get("judge") == primary:
            acc[r["target"]][r["transform"]].append(r["rates"]["unsafe"])
    transforms = sorted({tr for t in acc.values() for tr in t}, key=lambda x: (x != "none", x))
    charts["attacks"] = svg.bars(transforms, {tg: {tr: _sum_props(v) for tr, v in t.items()} for tg, t in acc.items()},
                                 "attack success rate by transform", f"attack success ({hl}) rate")
    # per-language bars by target
    btl = summary.get("by_target_language", {})
    charts["languages"] = svg.bars(lang_codes, {tg: {c: v["rates"]["unsafe"] for c, v in t.items()}
                                                for tg, t in btl.items()}, f"{hl} rate by language", f"{hl} rate")
    # over-refusal vs unsafe scatter
    pts = [{"label": c, "x": v.get("over_refusal"), "y": v.get("unsafe"), "group": v.get("tier")}
           for c, v in summary.get("over_refusal", {}).items()]
    charts["scatter"] = svg.scatter(pts, "over-refusal rate (benign prompts refused)",
                                    f"{hl} rate (harmful prompts)", f"over-refusal vs {hl} by language", measure=hl)
    return charts


def _metadata(summary: dict[str, Any]) -> dict[str, Any]:
    run = summary.get("run") or {}
    comps = run.get("components") or {}
    spec = run.get("spec") or {}
    return {
        "version": run.get("babelsafe_version") or "–",
        "report_version": __version__,
        "started": _fmt_time(run.get("started") or run.get("created")),
        "finished": _fmt_time(run.get("finished") or run.get("last_generation")),
        "interrupted": run.get("interrupted"),
        "seed": run.get("seed"),
        "targets": comps.get("target", {}),
        "judges": comps.get("judge", {}),
        "transforms": comps.get("transform", {}),
        "aux": comps.get("aux_target", {}),
        "datasets": run.get("datasets", []),
        "spec_datasets": spec.get("datasets", []),
        "spec": spec,
    }


def write_report(run_dir: str | Path, compare_with: str | Path | None = None, summary: dict[str, Any] | None = None,
                 recompute: bool = False, max_examples: int = 2000, out: str | Path | None = None,
                 comparison: dict[str, Any] | None = None, workers: int | None = None,
                 others: list[str | Path] | None = None, spec_tiers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> Path:
    """Write report.html, results.csv and results.parquet into run_dir; return the report's path
    (write_report_and_summary, which see, also returns the summary it used)."""
    return write_report_and_summary(run_dir, compare_with, summary, recompute, max_examples, out, comparison,
                                    workers, others, spec_tiers, extra)[0]


def write_report_and_summary(run_dir: str | Path, compare_with: str | Path | None = None,
                             summary: dict[str, Any] | None = None, recompute: bool = False,
                             max_examples: int = 2000, out: str | Path | None = None,
                             comparison: dict[str, Any] | None = None, workers: int | None = None,
                             others: list[str | Path] | None = None, spec_tiers: dict[str, str] | None = None,
                             extra: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """Write report.html, results.csv and (when pyarrow imports) results.parquet into run_dir; return the
    report's path and the summary it shows (the end of a run needs both: no second read of summary.json).
    Uses run_dir/summary.json unless `summary` is given or `recompute` is set (then the
    summary is recomputed from the store and summary.json rewritten). `compare_with`: a second run dir
    whose paired comparison is added to the report. `workers`: processes for the exports (default: 2
    on >= 2 CPUs for stores of >= 200k generations). `others`: run dirs whose figures sections may
    borrow (the helpfulness trade-off table fills its over-refusal / unsafe cells from them).
    When the summary is (re)computed, one read of the store serves it and the exports where it can
    (exports.summarize_and_export); `spec_tiers` and `extra` (keys added to it, e.g. "interrupted")
    are for that summary."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    store = run_dir / "results.sqlite"
    if not store.exists():
        raise UsageError(f"{run_dir} has no results.sqlite: is it a babelsafe run directory?")
    if summary is None and not recompute:
        summary = read_summary(run_dir)
    exp = None
    if summary is None:  # one read of the store for both when it can
        both = summarize_and_export(store, run_dir, spec_tiers=spec_tiers, max_examples=max_examples,
                                    workers=workers)
        if both is None:
            from ..metrics import summarize
            summary = summarize(store, spec_tiers=spec_tiers)
        else:
            summary, exp = both
        summary.update(extra or {})
        write_summary(run_dir, summary)
    t1 = time.perf_counter()
    one_read = exp is not None  # the exports were written in the summary's read of the store
    if exp is None:
        exp = export_results(store, run_dir, primary_judge=summary.get("primary_judge"),
                             max_examples=max_examples, strata_hint=max(1, n_strata(summary)),
                             tiers=summary.get("tiers"), workers=workers)
    t2 = time.perf_counter()
    if comparison is None and compare_with is not None:
        from ..metrics.compare import compare
        comparison = compare(run_dir, compare_with)
    html = render_html(summary, exp["examples"], comparison=comparison, run_name=run_dir.resolve().name,
                       exports={"csv": exp["csv"].name, "parquet": exp["parquet"].name if exp["parquet"] else None,
                                "rows": exp["rows"]}, sections=run_sections(run_dir, summary, others or []))
    path = Path(out) if out else run_dir / REPORT
    _atomic_write(path, html)
    if one_read:
        log.info("report written to %s in %.1fs (summary and exports in one read %.1fs, page %.1fs)", path,
                 time.perf_counter() - t0, t1 - t0, time.perf_counter() - t2)
    else:
        log.info("report written to %s in %.1fs (summary %.1fs, exports %.1fs, page %.1fs)", path,
                 time.perf_counter() - t0, t1 - t0, t2 - t1, time.perf_counter() - t2)
    return path, summary


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# Sections a kind of run adds to the page: "module:function(run_dir, summary) -> Markup | None".
# A function that takes `others` also gets the other run dirs given to the report (--tradeoff-with).
SECTIONS = ("babelsafe.agents.report:agent_section",
            "babelsafe.reporting.helpfulness:helpfulness_section")


def run_sections(run_dir: Path, summary: dict[str, Any], others: list[str | Path] | None = None) -> list[Markup]:
    """The extra sections that apply to this run (each decides from the store, None when not)."""
    import importlib
    import inspect

    out = []
    for path in SECTIONS:
        module, _, attr = path.partition(":")
        fn = getattr(importlib.import_module(module), attr)
        kw = {"others": others or []} if "others" in inspect.signature(fn).parameters else {}
        section = fn(run_dir, summary, **kw)
        if section is not None:
            out.append(section)
    return out


_TEMPLATE = "babelsafe-report/report.html.j2"  # a name of our own in Jinja's shared bytecode cache


@functools.lru_cache(maxsize=1)
def _environment() -> Environment:
    """The report's Jinja environment. Compiling report.html.j2 costs ~1.7 s of CPU (more than the
    rest of the page), so the compiled template is kept in Jinja's bytecode cache (a private per-user
    temp dir; the template's checksum is checked on every load) and reused across runs."""
    try:
        cache: Any = FileSystemBytecodeCache()
    except Exception:  # noqa: BLE001 - no usable temp dir: compile every time
        cache = None
    env = Environment(loader=FunctionLoader(lambda name: (_template_text(name.rpartition("/")[2]), None,
                                                          lambda: True)),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, bytecode_cache=cache, auto_reload=False)
    env.filters["pct"] = _fmt_pct
    env.filters["num"] = _fmt_num
    env.filters["ts"] = _fmt_time
    env.filters["langname"] = langs.name
    env.filters["tojson_pretty"] = lambda o: json.dumps(o, indent=2, ensure_ascii=False, default=str)
    return env


def render_html(summary: dict[str, Any], examples: list[dict[str, Any]], comparison: dict[str, Any] | None = None,
                run_name: str = "run", exports: dict[str, Any] | None = None,
                sections: list[Markup] | None = None) -> str:
    """The report page as a string (pure function of its inputs)."""
    script = _template_text("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    tpl = _environment().get_template(_TEMPLATE)
    return tpl.render(
        s=summary, run_name=run_name, charts=_charts(summary), meta=_metadata(summary),
        examples_json=json_for_script(examples), n_examples=len(examples), comparison=comparison,
        exports=exports or {}, script=Markup(script), script_hash=digest, sections=sections or [],
        generated=_fmt_time(time.time()), version=__version__,
    )
