"""Tiny inline-SVG charts for the offline report (no JavaScript, no external files).

Every piece of text goes through `markupsafe.escape`; numbers are formatted here. Each function returns
a `Markup` string ready to drop into the Jinja template.
"""
from __future__ import annotations

from typing import Any, Sequence

from markupsafe import Markup, escape

PALETTE = ["#c0392b", "#2471a3", "#229954", "#d68910", "#7d3c98", "#17a589", "#566573", "#a04000"]
FONT = "font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif"


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def _heat(v: float | None) -> str:
    """White -> red for 0 -> 1 (sqrt scale so small rates stay visible); grey when missing."""
    if v is None:
        return "#eeeeee"
    t = max(0.0, min(1.0, v)) ** 0.5
    r, g, b = 255, int(255 - 180 * t), int(255 - 200 * t)
    return f"rgb({r},{g},{b})"


def heatmap(rows: Sequence[str], cols: Sequence[str], cell: dict[tuple[str, str], dict[str, Any]],
            row_labels: dict[str, str] | None = None, title: str = "", measure: str = "unsafe") -> Markup:
    """rows x cols grid of rates; cell[(r, c)] = {"rate", "lo", "hi", "k", "n"}; `measure` names the rate."""
    if not rows or not cols:
        return Markup('<p class="empty">No data.</p>')
    longest = max(len(_short(c, 24)) for c in cols)
    cw, ch, left, top = 64, 26, 150, 24 + int(longest * 5.2)
    w, h = left + cw * len(cols) + 10, top + ch * len(rows) + 10
    out = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" style="{FONT};font-size:11px">']
    for j, c in enumerate(cols):
        x = left + cw * j + cw / 2
        out.append(f'<text x="{x:.0f}" y="{top - 6}" transform="rotate(-45 {x:.0f} {top - 6})">'
                   f'{escape(_short(c, 24))}<title>{escape(c)}</title></text>')
    for i, r in enumerate(rows):
        y = top + ch * i
        label = (row_labels or {}).get(r, r)
        out.append(f'<text x="{left - 6}" y="{y + ch / 2 + 4:.0f}" text-anchor="end">{escape(_short(label, 22))}'
                   f'</text>')
        for j, c in enumerate(cols):
            v = cell.get((r, c))
            rate = v.get("rate") if v else None
            x = left + cw * j
            tip = f"{label} × {c}: " + (f"{_pct(rate)} {measure} (95% CI {_pct(v['lo'])}–{_pct(v['hi'])}), "
                                        f"{v['k']}/{v['n']}" if rate is not None else "no data")
            out.append(f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="{_heat(rate)}">'
                       f'<title>{escape(tip)}</title></rect>')
            if rate is not None:
                col = "#fff" if rate > 0.45 else "#222"
                out.append(f'<text x="{x + cw / 2 - 1:.0f}" y="{y + ch / 2 + 3:.0f}" text-anchor="middle" '
                           f'fill="{col}" pointer-events="none">{100 * rate:.0f}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def bars(groups: Sequence[str], series: dict[str, dict[str, dict[str, Any] | None]], title: str = "",
         ylabel: str = "unsafe rate") -> Markup:
    """Grouped vertical bars with 95% interval whiskers. series[name][group] = proportion dict."""
    names = list(series)
    if not groups or not names:
        return Markup('<p class="empty">No data.</p>')
    vmax = max([0.05] + [p["hi"] for s in series.values() for p in s.values() if p and p.get("hi") is not None])
    vmax = min(1.0, vmax * 1.1)
    bw = max(10, min(40, 360 // max(1, len(names) * len(groups))))
    gw = bw * len(names) + 18
    left, top, ph = 48, 16, 220
    w = left + gw * len(groups) + 20
    legend_h = 18 * ((len(names) + 3) // 4) if len(names) > 1 else 0
    h = top + ph + 70 + legend_h
    out = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" style="{FONT};font-size:11px">']
    for t in range(0, 6):
        v = vmax * t / 5
        y = top + ph - ph * v / vmax
        out.append(f'<line x1="{left}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{100 * v:.0f}%</text>')
    out.append(f'<text x="12" y="{top + ph / 2:.0f}" transform="rotate(-90 12 {top + ph / 2:.0f})" '
               f'text-anchor="middle" fill="#555">{escape(ylabel)}</text>')
    for gi, g in enumerate(groups):
        gx = left + gi * gw + 9
        for si, name in enumerate(names):
            p = series[name].get(g)
            x = gx + si * bw
            if not p or p.get("rate") is None:
                continue
            y = top + ph - ph * p["rate"] / vmax
            tip = (f"{name} · {g}: {_pct(p['rate'])} (95% CI {_pct(p['lo'])}–{_pct(p['hi'])}), "
                   f"{p['k']}/{p['n']}")
            out.append(f'<rect x="{x}" y="{y:.1f}" width="{bw - 2}" height="{top + ph - y:.1f}" '
                       f'fill="{PALETTE[si % len(PALETTE)]}" opacity="0.85"><title>{escape(tip)}</title></rect>')
            ylo, yhi = top + ph - ph * p["lo"] / vmax, top + ph - ph * p["hi"] / vmax
            cx = x + (bw - 2) / 2
            out.append(f'<path d="M{cx:.1f},{ylo:.1f}V{yhi:.1f}M{cx - 4:.1f},{ylo:.1f}h8M{cx - 4:.1f},{yhi:.1f}h8" '
                       f'stroke="#111" stroke-width="1.2" fill="none"/>')
        lx = gx + (gw - 18) / 2
        out.append(f'<text x="{lx:.0f}" y="{top + ph + 14}" text-anchor="end" '
                   f'transform="rotate(-35 {lx:.0f} {top + ph + 14})">{escape(_short(g, 28))}<title>{escape(g)}'
                   f'</title></text>')
    out.append(f'<line x1="{left}" x2="{w - 10}" y1="{top + ph}" y2="{top + ph}" stroke="#999"/>')
    if len(names) > 1:
        for si, name in enumerate(names):
            lx, ly = left + (si % 4) * 170, top + ph + 62 + 18 * (si // 4)
            out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{PALETTE[si % len(PALETTE)]}"/>'
                       f'<text x="{lx + 14}" y="{ly}">{escape(_short(name, 26))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def stacked(groups: Sequence[str], parts: dict[str, dict[str, float | None]], colors: dict[str, str],
            title: str = "") -> Markup:
    """Horizontal 100% stacked bars: parts[part][group] = share (MultiJail unsafe/safe/invalid layout)."""
    if not groups:
        return Markup('<p class="empty">No data.</p>')
    left, bh, width = 70, 20, 520
    h = 30 + bh * len(groups) + 10
    out = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{left + width + 20}" height="{h}" '
           f'viewBox="0 0 {left + width + 20} {h}" xmlns="http://www.w3.org/2000/svg" style="{FONT};font-size:11px">']
    lx = left
    for part in parts:
        out.append(f'<rect x="{lx}" y="4" width="10" height="10" fill="{colors[part]}"/>'
                   f'<text x="{lx + 14}" y="13">{escape(part)}</text>')
        lx += 110
    for i, g in enumerate(groups):
        y = 24 + i * bh
        out.append(f'<text x="{left - 6}" y="{y + bh / 2 + 3:.0f}" text-anchor="end">{escape(_short(g, 12))}</text>')
        x = float(left)
        for part, vals in parts.items():
            v = vals.get(g) or 0.0
            wpx = width * v
            if wpx > 0:
                out.append(f'<rect x="{x:.1f}" y="{y}" width="{wpx:.1f}" height="{bh - 3}" fill="{colors[part]}">'
                           f'<title>{escape(f"{g}: {part} {_pct(v)}")}</title></rect>')
                if wpx > 34:
                    out.append(f'<text x="{x + wpx / 2:.1f}" y="{y + bh / 2 + 2:.0f}" text-anchor="middle" '
                               f'fill="#fff" pointer-events="none">{100 * v:.0f}%</text>')
            x += wpx
    out.append("</svg>")
    return Markup("".join(out))


def scatter(points: Sequence[dict[str, Any]], xlabel: str, ylabel: str, title: str = "",
            measure: str = "unsafe") -> Markup:
    """points: {"label", "x": proportion dict, "y": proportion dict, "group"}; whiskers on both axes;
    `measure` names the y rate in the tooltips."""
    pts = [p for p in points if p["x"] and p["y"] and p["x"].get("rate") is not None
           and p["y"].get("rate") is not None]
    if not pts:
        return Markup('<p class="empty">Needs both benign prompts (over-refusal) and harmful prompts '
                      f'({escape(measure)} rate) in the same languages, judged by a refusal judge.</p>')
    left, top, pw, ph = 56, 14, 420, 300
    xmax = min(1.0, max(0.05, max(p["x"]["hi"] for p in pts)) * 1.1)
    ymax = min(1.0, max(0.05, max(p["y"]["hi"] for p in pts)) * 1.1)
    w, h = left + pw + 30, top + ph + 50
    rank = {"reference": 0, "high": 1, "medium": 2, "low": 3}
    groups = sorted({str(p.get("group", "")) for p in pts}, key=lambda g: (rank.get(g, 9), g))
    out = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" style="{FONT};font-size:11px">']
    for t in range(6):
        xv, yv = xmax * t / 5, ymax * t / 5
        x, y = left + pw * t / 5, top + ph - ph * t / 5
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="#eee"/>'
                   f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle" fill="#555">{100 * xv:.0f}%</text>'
                   f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{100 * yv:.0f}%</text>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 8}" text-anchor="middle">{escape(xlabel)}</text>'
               f'<text x="12" y="{top + ph / 2}" transform="rotate(-90 12 {top + ph / 2})" text-anchor="middle">'
               f'{escape(ylabel)}</text>')
    sx = lambda v: left + pw * v / xmax  # noqa: E731
    sy = lambda v: top + ph - ph * v / ymax  # noqa: E731
    for p in pts:
        color = PALETTE[groups.index(str(p.get("group", ""))) % len(PALETTE)]
        x, y = sx(p["x"]["rate"]), sy(p["y"]["rate"])
        tip = (f"{p['label']}: over-refusal {_pct(p['x']['rate'])} ({_pct(p['x']['lo'])}–{_pct(p['x']['hi'])}), "
               f"{measure} {_pct(p['y']['rate'])} ({_pct(p['y']['lo'])}–{_pct(p['y']['hi'])})")
        out.append(f'<path d="M{sx(p["x"]["lo"]):.1f},{y:.1f}H{sx(p["x"]["hi"]):.1f}M{x:.1f},{sy(p["y"]["lo"]):.1f}'
                   f'V{sy(p["y"]["hi"]):.1f}" stroke="{color}" stroke-width="1" opacity="0.6"/>'
                   f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color}"><title>{escape(tip)}</title></circle>'
                   f'<text x="{x + 7:.1f}" y="{y - 6:.1f}">{escape(p["label"])}</text>')
    lx = left + 8
    for gi, g in enumerate(groups):
        if g:
            out.append(f'<circle cx="{lx}" cy="{top + 8}" r="4" fill="{PALETTE[gi % len(PALETTE)]}"/>'
                       f'<text x="{lx + 7}" y="{top + 12}">{escape(g)}</text>')
            lx += 90
    out.append("</svg>")
    return Markup("".join(out))


def _short(s: Any, n: int) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "…"
