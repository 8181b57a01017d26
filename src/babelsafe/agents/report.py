"""The report's agent section: unsafe-action rate per language x risk category with intervals, and a
trace viewer (each trace and each step a collapsible <details>; every text, tool name and argument is
HTML-escaped, so a model that writes markup or script into a tool argument cannot run it in the page)."""
from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..results.readers import RunReader

MAX_TRACES = 400


def _pct(r: dict[str, Any] | None) -> str:
    if not r or r.get("rate") is None:
        return "–"
    return f"{100 * r['rate']:.0f}% <small>[{100 * r['lo']:.0f}–{100 * r['hi']:.0f}] n={r['n']}</small>"


def _j(v: Any) -> str:
    return escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, indent=1, default=str))


def _table(jp: dict[str, Any]) -> str:
    cells = jp["by_language_risk"]
    risks = sorted({r for by in cells.values() for r in by})
    head = "".join(f"<th>{escape(r)}</th>" for r in risks)
    rows = []
    for lang, by in cells.items():
        tds = "".join(f"<td>{_pct((by.get(r) or {}).get('unsafe_action'))}</td>" for r in risks)
        total = _pct(jp["by_language"][lang]["unsafe_action"])
        rows.append(f"<tr><th>{escape(lang)}</th><td><b>{total}</b></td>{tds}</tr>")
    return (f"<div class='scroll'><table><tr><th>language</th><th>all</th>{head}</tr>{''.join(rows)}"
            "</table></div>")


def _step(s: dict[str, Any]) -> str:
    if s.get("kind") == "model":
        calls = s.get("tool_calls") or []
        what = f"{len(calls)} tool call(s)" if calls else ("answer" if s.get("outcome") == "ok" else s.get("outcome"))
        cached = " (cached)" if s.get("cached") else ""
        body = [f"<p>{_j(s.get('content') or '')}</p>"] if s.get("content") else []
        for c in calls:
            bad = f" <b>malformed: {escape(str(c.get('malformed')))}</b>" if c.get("malformed") else ""
            body.append(f"<pre>{escape(str(c.get('name')))}({_j(c.get('arguments'))}){bad}</pre>")
        if s.get("error"):
            body.append(f"<p><b>{escape(str(s.get('error_kind')))}</b>: {escape(str(s['error']))}</p>")
        return (f"<details><summary>step {s.get('step')}: model → {escape(str(what))}{cached}</summary>"
                f"{''.join(body)}</details>")
    status = escape(str(s.get("status")))
    return (f"<details><summary>step {s.get('step')}: tool {escape(str(s.get('name')))} → {status}</summary>"
            f"<pre>args: {_j(s.get('arguments'))}</pre><pre>result: {_j(s.get('result'))}</pre></details>")


def _traces(reader: RunReader, judge: str | None) -> tuple[str, int]:
    verdicts = reader.verdict_labels_of(judge) if judge else {}
    items = []
    for name, rec in reader.agent_traces(limit=MAX_TRACES):
        pk, _, target = name.partition("|")
        label, why = verdicts.get((pk, target), ("unjudged", ""))
        steps = "".join(_step(s) for s in rec.get("steps", []))
        items.append((rec.get("scenario", ""), rec.get("language", ""), target,
                      f"<details class='trace'><summary><code>{escape(str(rec.get('scenario')))}</code> "
                      f"[{escape(str(rec.get('language')))}] {escape(target)} — <b>{escape(label)}</b> "
                      f"<small>{escape(why[:120])} · stop: {escape(str(rec.get('stop')))} · "
                      f"{escape(str(rec.get('protocol')))}</small></summary>{steps}</details>"))
    items.sort()
    return "".join(i[3] for i in items), reader.n_agent_traces()


def agent_section(run_dir: str | Path, summary: dict[str, Any] | None = None) -> Markup | None:
    """The section's HTML, or None when the run has no agent trace."""
    store = Path(run_dir) / "results.sqlite"
    if not store.exists():
        return None
    with RunReader(store) as reader:
        return _section(reader, (summary or {}).get("agents"))


def _section(reader: RunReader, panel: dict[str, Any] | None) -> Markup | None:
    if not panel:
        if not reader.has_agent_traces():
            return None
        from .metrics import agent_panel

        panel = agent_panel(reader)
    if not panel:
        return None
    judge = panel.get("primary_judge")
    jp = panel["judges"].get(judge) if judge else None
    parts = ["<section id='agents'><h2>Agent safety: what the agent did</h2>",
             f"<p>{panel['traces']} traces · stops: {escape(json.dumps(panel['stops']))} · mean model calls per "
             f"scenario {panel.get('mean_model_calls')} · traces without any tool call {panel.get('text_only')} · "
             f"malformed or invalid tool calls "
             f"{panel.get('bad_tool_calls')} · generation errors (excluded) {panel.get('generation_errors')}</p>"]
    if jp:
        o = jp["overall"]
        score = "–" if o["safety_score"] is None else f"{100 * o['safety_score']:.0f}%"
        parts.append(f"<p>Judge <b>{escape(str(judge))}</b>: unsafe-action rate {_pct(o['unsafe_action'])}; "
                     f"safety score {score}; labels {escape(json.dumps(o['labels']))}.</p>")
        parts.append("<h3>Unsafe-action rate: language × risk category (95% Wilson interval)</h3>")
        parts.append(_table(jp))
        if jp.get("paired_vs_en"):
            rows = "".join(
                f"<tr><th>{escape(lang)}</th><td>{100 * d['diff']:+.0f} pts [{100 * d['lo']:+.0f}, "
                f"{100 * d['hi']:+.0f}]</td><td>{d['mcnemar_p']:.3g}</td><td>{d['n']}</td></tr>"
                for lang, d in jp["paired_vs_en"].items() if d.get("diff") is not None)
            parts.append("<h3>Each language vs English on the same scenarios</h3><table><tr><th>language</th>"
                         f"<th>difference</th><th>McNemar p</th><th>pairs</th></tr>{rows}</table>")
    html, total = _traces(reader, judge)
    more = f" (first {MAX_TRACES} of {total})" if total > MAX_TRACES else ""
    parts.append(f"<h3>Traces{more}</h3>{html}</section>")
    return Markup("".join(parts))
