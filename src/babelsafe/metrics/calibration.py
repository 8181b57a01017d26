"""Is a confidence calibrated? Expected calibration error, Brier score and a reliability table.

A verdict's confidence c says "right with probability c". Over many verdicts, those with confidence
near c should be right about a share c of the time. `reliability` bins the verdicts by confidence
(10 equal-width bins [0, 0.1), ..., [0.9, 1.0] by default; `equal_mass=True`: bins of equal count)
and gives per bin n, mean confidence and accuracy; `ece` is the n-weighted mean of
|accuracy - mean confidence| over the bins; `brier` is the mean of (confidence - right)^2 (the Brier
score of the confidence as a forecast of "this verdict is right"). `weights` (optional, per verdict)
weigh each verdict in every mean and count, e.g. to correct a stratified sample's label mix back to
a natural one. Pure functions; nothing here knows what "right" means (the caller says: the 3-class
label, or refused / not).
"""
from __future__ import annotations

from typing import Any, Sequence


Triple = tuple[float, bool, float]  # (confidence, right, weight)


def _triples(conf: Sequence[float], right: Sequence[bool], weights: Sequence[float] | None) -> list[Triple]:
    if len(conf) != len(right) or (weights is not None and len(weights) != len(conf)):
        raise ValueError(f"calibration: {len(conf)} confidences, {len(right)} outcomes"
                         + ("" if weights is None else f", {len(weights)} weights"))
    ws = [1.0] * len(conf) if weights is None else [float(w) for w in weights]
    return sorted(zip((float(c) for c in conf), (bool(r) for r in right), ws))


def reliability(conf: Sequence[float], right: Sequence[bool], bins: int = 10, equal_mass: bool = False,
                weights: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Bins of (confidence, right) pairs: lo, hi (confidence range), n, weight, confidence (mean),
    accuracy. Empty bins are left out. Equal-width: bin i holds lo <= c < hi (the last also c == 1.0).
    Equal-mass: sorted by confidence and cut into `bins` runs of (nearly) equal count; equal
    confidences stay in one bin (a cut never splits a tie), so there may be fewer bins."""
    pairs = _triples(conf, right, weights)
    groups: list[list[Triple]] = []
    if equal_mass:
        n = len(pairs)
        start = 0
        for k in range(1, bins + 1):
            end = round(k * n / bins)
            while 0 < end < n and pairs[end][0] == pairs[end - 1][0]:
                end += 1  # keep ties together
            if end > start:
                groups.append(pairs[start:end])
                start = end
    else:
        by: dict[int, list[Triple]] = {}
        for t in pairs:
            by.setdefault(min(max(int(t[0] * bins), 0), bins - 1), []).append(t)
        groups = [by[i] for i in sorted(by)]
    out = []
    for g in groups:
        lo, hi = (g[0][0], g[-1][0]) if equal_mass else _width_bounds(g[0][0], bins)
        w = sum(x for _, _, x in g)
        out.append({"lo": lo, "hi": hi, "n": len(g), "weight": w,
                    "confidence": sum(c * x for c, _, x in g) / w if w else float("nan"),
                    "accuracy": sum(x for _, r, x in g if r) / w if w else float("nan")})
    return out


def _width_bounds(c: float, bins: int) -> tuple[float, float]:
    i = min(max(int(c * bins), 0), bins - 1)
    return i / bins, (i + 1) / bins


def ece(conf: Sequence[float], right: Sequence[bool], bins: int = 10, equal_mass: bool = False,
        weights: Sequence[float] | None = None) -> float:
    """Expected calibration error: sum over bins of n_bin / n * |accuracy - mean confidence|."""
    table = reliability(conf, right, bins, equal_mass, weights)
    w = sum(b["weight"] for b in table)
    return sum(b["weight"] * abs(b["accuracy"] - b["confidence"]) for b in table) / w if w else float("nan")


def brier(conf: Sequence[float], right: Sequence[bool], weights: Sequence[float] | None = None) -> float:
    """Mean of (confidence - right)^2 (right = 1 or 0)."""
    t = _triples(conf, right, weights)
    w = sum(x for _, _, x in t)
    return sum(x * (c - float(r)) ** 2 for c, r, x in t) / w if w else float("nan")


def calibration(conf: Sequence[float], right: Sequence[bool], bins: int = 10, equal_mass: bool = False,
                weights: Sequence[float] | None = None) -> dict[str, Any]:
    """n, accuracy, mean confidence, ECE (and the other binning's, `ece_equal_mass` / `ece_equal_width`),
    Brier and the reliability table, as a JSON-able dict."""
    t = _triples(conf, right, weights)
    w = sum(x for _, _, x in t)
    if not t or not w:
        return {"n": len(t)}
    other = "ece_equal_width" if equal_mass else "ece_equal_mass"
    return {"n": len(t), "accuracy": sum(x for _, r, x in t if r) / w, "confidence": sum(c * x for c, _, x in t) / w,
            "ece": ece(conf, right, bins, equal_mass, weights), other: ece(conf, right, bins, not equal_mass, weights),
            "brier": brier(conf, right, weights), "bins": bins, "equal_mass": equal_mass,
            "table": reliability(conf, right, bins, equal_mass, weights)}
