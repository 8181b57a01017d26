"""report.html section for the helpfulness probe: per language, helpfulness and exact-match accuracy next
to the over-refusal and unsafe rates (the trade-off table), then ratings by category.

Figures the run lacks (a helpfulness-only run has no harmful prompts) are filled from other runs given
to `babelsafe report RUN --tradeoff-with OTHER` (or `--compare OTHER`); each filled cell names its run.
Everything model- or user-written goes through Jinja2 autoescaping.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from ..metrics.helpful import fill_tradeoff

_TEMPLATE = """
<section id="helpfulness">
  <h2>Helpfulness beside safety</h2>
  <p class="note">Per language: helpfulness (the <code>helpfulness</code> rubric, 1-5, mean with a 95% t
  interval; unparsable judge replies excluded and counted), exact-match accuracy on questions with an answer key
  (<code>answer-match</code>, Wilson 95%), the over-refusal rate (benign prompts refused, refusal judge) and the
  {{ unsafe_label }} rate on harmful prompts. A useful model is high on the first two and low on the last two.
  "–": the run (and the runs given with --tradeoff-with) has no such prompts or judge.</p>
  {% for target, rows in table.items() %}
  <div class="scroll"><table><tr><th class="l">{{ target }} · lang</th><th>helpfulness (1-5)</th><th>n</th>
    <th>exact match</th><th>over-refusal</th><th>{{ unsafe_label }}</th><th class="l">from</th></tr>
  {% for lang, r in rows.items() %}<tr><td class="l">{{ lang }} · {{ lang | langname }}</td>
    <td>{% if r.helpfulness and r.helpfulness.mean is not none %}{{ "%.2f" | format(r.helpfulness.mean) }}{% if r.helpfulness.lo is not none %} ({{ "%.1f … %.1f" | format(r.helpfulness.lo, r.helpfulness.hi) }}){% endif %}{% else %}–{% endif %}</td>
    <td>{{ r.helpfulness.n if r.helpfulness else "–" }}</td>
    <td>{{ r.accuracy | pct }}{% if r.accuracy %} · n {{ r.accuracy.n }}{% endif %}</td>
    <td>{{ r.over_refusal | pct }}</td><td>{{ r.unsafe | pct }}</td>
    <td class="l">{% for k, v in r.source.items() %}{{ k }}: {{ v }}{% if not loop.last %}; {% endif %}{% endfor %}</td></tr>
  {% endfor %}</table></div>
  {% endfor %}
  {% for target, t in panel.items() %}{% if t.rating %}
  <h3>{{ target }} · helpfulness by category ({{ t.rating.judge }})</h3>
  <p class="note">Judge errors (unparsable replies, excluded): {{ t.rating.overall.judge_errors }} ·
  rating distribution: {% for k, v in t.rating.overall.distribution.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</p>
  <div class="scroll"><table><tr><th class="l">category</th><th>n</th><th>mean</th><th>95% CI</th><th>judge errors</th></tr>
  {% for c, r in t.rating.by_category.items() %}<tr><td class="l">{{ c }}</td><td>{{ r.n }}</td>
    <td>{{ "%.2f" | format(r.mean) if r.mean is not none else "–" }}</td>
    <td>{{ "%.1f … %.1f" | format(r.lo, r.hi) if r.lo is not none else "–" }}</td><td>{{ r.judge_errors }}</td></tr>
  {% endfor %}</table></div>
  {% endif %}{% if t.exact %}
  <p class="note">{{ target }} · exact match ({{ t.exact.judge }}): {{ t.exact.overall.correct }} of {{ t.exact.overall.n }}
  keyed answers{% if t.exact.overall.open %}; {{ t.exact.overall.open }} open questions not scored{% endif %}.</p>
  {% endif %}{% endfor %}
</section>
"""


def _pct(p: Any) -> str:
    if not isinstance(p, dict) or p.get("rate") is None:
        return "–"
    s = f"{100 * p['rate']:.1f}%"
    if p.get("lo") is not None:
        s += f" ({100 * p['lo']:.0f}–{100 * p['hi']:.0f})"
    return s


def other_summaries(runs: Iterable[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    """(run name, summary) of other run dirs (their summary.json, computed when missing)."""
    from ..results.summary_file import read_summary

    out = []
    for r in runs:
        d = Path(r)
        summ = read_summary(d)
        if summ is None:
            from ..metrics import summarize

            summ = summarize(d / "results.sqlite")
        out.append((d.resolve().name, dict(summ)))
    return out


def helpfulness_section(run_dir: str | Path, summary: dict[str, Any] | None = None,
                        others: Iterable[str | Path] = ()) -> Markup | None:
    """The section's HTML, or None when the run has no helpfulness judge."""
    from .. import languages as langs

    panel = (summary or {}).get("helpfulness")
    if not panel:
        return None
    table = fill_tradeoff(panel, other_summaries(others))
    names = {r.get("unsafe_name") for rows in table.values() for r in rows.values() if r.get("unsafe_name")}
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _pct
    env.filters["langname"] = langs.name
    label = "answered (not refused)" if names == {"answered, not refused"} else "unsafe"
    return Markup(env.from_string(_TEMPLATE).render(table=table, panel=panel, unsafe_label=label))
