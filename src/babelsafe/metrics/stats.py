"""Statistics with honest error bars: Wilson score intervals, Newcombe's paired difference, McNemar's
exact test, Fleiss' and Cohen's kappa, the CoSA-Score, and percentile bootstrap intervals.

Pure functions of counts; nothing here reads a store.
"""
from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any, Iterable, Iterator, Sequence

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (n > 0)."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo = 0.0 if k <= 0 else max(0.0, center - half)
    hi = 1.0 if k >= n else min(1.0, center + half)
    return (lo, hi)


def proportion(k: int, n: int) -> dict[str, Any]:
    """{"k", "n", "rate", "lo", "hi"}; rate/lo/hi are None when n == 0."""
    if n <= 0:
        return {"k": int(k), "n": 0, "rate": None, "lo": None, "hi": None}
    lo, hi = wilson(k, n)
    return {"k": int(k), "n": int(n), "rate": k / n, "lo": lo, "hi": hi}


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b and c (binomial, p = 1/2)."""
    m = b + c
    if m == 0:
        return 1.0
    k = min(b, c)
    # sum_{i<=k} C(m, i) / 2^m, computed in log space to stay exact enough for large m
    log_terms = [math.lgamma(m + 1) - math.lgamma(i + 1) - math.lgamma(m - i + 1) for i in range(k + 1)]
    top = max(log_terms)
    tail = math.exp(top + math.log(sum(math.exp(t - top) for t in log_terms)) - m * math.log(2))
    return min(1.0, 2 * tail)


def paired_difference(a: int, b: int, c: int, d: int, z: float = Z95) -> dict[str, Any]:
    """Difference p1 - p2 of two paired proportions with Newcombe's (1998, method 10) score interval
    and the Wald interval. a = both positive, b = positive in 1 only, c = positive in 2 only, d = neither.
    """
    n = a + b + c + d
    if n == 0:
        return {"n": 0, "p1": None, "p2": None, "diff": None, "lo": None, "hi": None,
                "wald_lo": None, "wald_hi": None}
    p1, p2 = (a + b) / n, (a + c) / n
    diff = p1 - p2
    l1, u1 = wilson(a + b, n, z)
    l2, u2 = wilson(a + c, n, z)
    r1, r2, c1, c2 = a + b, c + d, a + c, b + d  # row and column margins
    phi = 0.0
    if r1 and r2 and c1 and c2:
        cross = a * d - b * c
        if cross > n / 2:
            cross -= n / 2  # Newcombe's continuity adjustment of the correlation
        elif cross >= 0:
            cross = 0
        phi = cross / math.sqrt(r1 * r2 * c1 * c2)
    dl = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    du = math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    se = math.sqrt(max(0.0, (b + c) - (b - c) ** 2 / n)) / n
    return {"n": n, "p1": p1, "p2": p2, "diff": diff, "lo": max(-1.0, diff - dl), "hi": min(1.0, diff + du),
            "wald_lo": max(-1.0, diff - z * se), "wald_hi": min(1.0, diff + z * se)}


def fleiss_kappa(table: Iterable[Sequence[int]]) -> float | None:
    """Fleiss' kappa from per-item category counts (rows: items, columns: categories). Items may have
    different numbers of ratings (>= 2; rows with fewer are ignored): P_i = (sum_j n_ij^2 - m_i) /
    (m_i (m_i - 1)), p_j = share of all ratings in category j. None when undefined (one category only)."""
    return fleiss_kappa_weighted((row, 1) for row in table)


def fleiss_kappa_weighted(rows: Iterable[tuple[Sequence[int], int]]) -> float | None:
    """Fleiss' kappa from (category counts, number of items with exactly these counts) pairs."""
    totals: Counter[int] = Counter()
    p_sum = 0.0
    items = 0
    ratings = 0
    for row, w in rows:
        m = sum(row)
        if m < 2 or w <= 0:
            continue
        items += w
        ratings += m * w
        p_sum += w * (sum(x * x for x in row) - m) / (m * (m - 1))
        for j, x in enumerate(row):
            totals[j] += x * w
    if items == 0:
        return None
    p_bar = p_sum / items
    p_e = sum((t / ratings) ** 2 for t in totals.values())
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1 - p_e)


def cosa_score(items: Iterable[tuple[float, int]]) -> dict[str, Any]:
    """CoSA-Score (Zhang et al., ICLR 2025) = mean of h_i * s_i with h in [0, 1] and s in {+1, -1}."""
    n = 0
    total = 0.0
    for h, s in items:
        n += 1
        total += h * s
    return {"n": n, "score": total / n if n else None}


def cohen_kappa(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Cohen's kappa of two label sequences (nan when empty; 1/0 when chance agreement is total)."""
    n = len(gold)
    if n == 0:
        return float("nan")
    po = sum(g == p for g, p in zip(gold, pred)) / n
    cg, cp = Counter(gold), Counter(pred)
    pe = sum(cg[k] * cp.get(k, 0) for k in cg) / (n * n)
    if pe >= 1.0:
        return 1.0 if po >= 1.0 else 0.0
    return (po - pe) / (1 - pe)


def bootstrap_indices(m: int, reps: int, seed: int = 0) -> Iterator[list[int]]:
    """`reps` resamples (with replacement) of the indices 0..m-1, from a seeded generator."""
    rng = random.Random(seed)
    for _ in range(reps):
        yield [rng.randrange(m) for _ in range(m)]


def percentile_interval(values: Iterable[float], digits: int = 4) -> list[float] | None:
    """The 2.5th and 97.5th percentiles of bootstrap values (nan left out); None when none are left."""
    vals = sorted(v for v in values if v == v)
    if not vals:
        return None
    lo = vals[int(0.025 * (len(vals) - 1))]
    hi = vals[int(round(0.975 * (len(vals) - 1)))]
    return [round(lo, digits), round(hi, digits)]
