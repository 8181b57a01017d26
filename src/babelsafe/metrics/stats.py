"""Statistics with honest error bars: Wilson score intervals, Newcombe's paired difference, McNemar's
exact test, Fleiss' and Cohen's kappa, the CoSA-Score, and percentile bootstrap intervals.

Pure functions of counts; nothing here reads a store.
"""
from __future__ import annotations

import array
import math
import random
import sys
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


# Bootstrap without a Python call per resampled item. `rng.randrange(m)` (CPython 3.10-3.13, m < 2**32)
# draws one 32-bit Mersenne Twister word w, keeps w >> (32 - k) (k = m.bit_length()) when that is < m and
# else draws again. `getrandbits(32 * B)` returns the next B words of the same stream, the first in the
# lowest 32 bits, so filtering a block of words gives exactly the indices `bootstrap_indices` yields
# (with numpy: its MT19937 generator set to the same state gives the same words, checked per call).
# tests/test_metrics_bootstrap.py compares them. bootstrap_agreement (calibrate) and bootstrap_means
# (the xling panel of report / run) draw their resamples from this one stream (`_resamples`).
_NUMPY_FROM = 1 << 18  # resampled items from which numpy (if installed) is worth its ~0.1 s import
_NUMPY_LOADED_FROM = 1 << 12  # ... and from which it is faster once imported (by an earlier call)
# CPython before 3.12 sums floats left to right in plain double arithmetic (3.12 compensates: Neumaier)
_PLAIN_SUM = sys.implementation.name == "cpython" and sys.version_info < (3, 12)


def _index_blocks(m: int, seed: int, numpy: Any, total: int = 1 << 30) -> Iterator[Any]:
    """The stream of `bootstrap_indices(m, reps, seed)` indices, flattened, in blocks (int64 numpy arrays
    or lists); `total`: about how many indices will be taken (sizes the blocks)."""
    rng = random.Random(seed)
    shift = 32 - m.bit_length()
    limit = m << shift  # w >> shift < m  <=>  w < limit
    # numpy: fewer, larger blocks (each index takes < 2 words on average)
    words = max(1024, min(1 << 18, 2 * total)) if numpy is not None else max(1024, min(1 << 20, 2 * m))
    mt = _numpy_twister(numpy, rng) if numpy is not None else None
    while True:
        if mt is not None:  # the same words from numpy's generator (~4x faster than getrandbits + to_bytes)
            w = mt.random_raw(words)  # uint64 holding 32-bit words
            w >>= numpy.uint64(shift)
            yield w[w < m].view(numpy.int64)  # (< 2**32: the same numbers; int64 indexes fastest)
            continue
        raw = rng.getrandbits(32 * words).to_bytes(4 * words, "little")
        if numpy is not None:
            w = numpy.frombuffer(raw, dtype="<u4")
            yield (w[w < limit] >> shift).astype(numpy.int64)
        else:
            arr = array.array("I")
            arr.frombytes(raw)
            if sys.byteorder != "little":
                arr.byteswap()
            yield [x >> shift for x in arr if x < limit]


def _numpy_twister(numpy: Any, rng: random.Random, check: int = 64) -> Any:
    """numpy's MT19937 bit generator set to `rng`'s state (numpy and CPython implement the same Mersenne
    Twister: `random_raw` gives the 32-bit words getrandbits gives), or None when its first `check` words
    are not those (another numpy or Python) or it cannot be built."""
    try:
        state = rng.getstate()[1]
        mt = numpy.random.MT19937()
        mt.state = {"bit_generator": "MT19937",
                    "state": {"key": numpy.asarray(state[:624], dtype=numpy.uint32), "pos": state[624]}}
        ref = random.Random()
        ref.setstate(rng.getstate())
        want = numpy.frombuffer(ref.getrandbits(32 * check).to_bytes(4 * check, "little"), dtype="<u4")
        start = mt.state
        if not bool((mt.random_raw(check) == want).all()):
            return None
        mt.state = start
        return mt
    except Exception:  # noqa: BLE001 - an older numpy without MT19937.random_raw: getrandbits it is
        return None


def _stream_matches(m: int, seed: int, words: int = 128) -> bool:
    """Whether the first indices of `_index_blocks` are those `randrange` draws (a cheap check per call)."""
    arr = array.array("I")
    arr.frombytes(random.Random(seed).getrandbits(32 * words).to_bytes(4 * words, "little"))
    if sys.byteorder != "little":
        arr.byteswap()
    shift = 32 - m.bit_length()
    fast = [x >> shift for x in arr if x < m << shift]
    ref = random.Random(seed)
    return arr.itemsize == 4 and fast == [ref.randrange(m) for _ in fast]


def _numpy_for(work: int) -> Any:
    """numpy when installed and worth it for `work` resampled items (its import costs ~0.1 s), else None."""
    if work >= _NUMPY_FROM or (work >= _NUMPY_LOADED_FROM and "numpy" in sys.modules):
        try:
            import numpy
            return numpy
        except ImportError:  # numpy is optional: the pure-Python path gives the same values
            return None
    return None


def _resamples(m: int, reps: int, seed: int, np: Any) -> Iterator[Any]:
    """The resamples of `bootstrap_indices(m, reps, seed)`, from the block stream: with numpy, (rows, m)
    index arrays of up to 2**20 indices each; without, one list of m indices per resample."""
    blocks = _index_blocks(m, seed, np, reps * m)
    if np is not None:
        batch = max(1, (1 << 20) // m)  # resamples per numpy pass
        pending = np.empty(0, dtype=np.int64)
        done = 0
        while done < reps:
            rows = min(batch, reps - done)
            need = rows * m
            parts = [pending]
            have = len(pending)
            while have < need:
                block = next(blocks)
                parts.append(block)
                have += len(block)
            flat = np.concatenate(parts)
            pending = flat[need:]
            yield flat[:need].reshape(rows, m)
            done += rows
    else:
        buf: list[int] = []
        at = 0
        for _ in range(reps):
            while len(buf) - at < m:
                buf = buf[at:] + next(blocks)
                at = 0
            yield buf[at:at + m]
            at += m


def bootstrap_agreement(gold: Sequence[str], pred: Sequence[str], reps: int, seed: int = 0,
                        kappa: bool = True) -> tuple[list[float], list[float]]:
    """(accuracies, Cohen's kappas) of `reps` bootstrap resamples of the (gold, pred) pairs: the values of
    `sum(g == p) / m` and `cohen_kappa` on each resample `bootstrap_indices(m, reps, seed)` gives, equal to
    the last bit, from the resample's counts of each (gold, pred) pair. `kappa=False`: no kappas."""
    m = len(gold)
    if m == 0 or reps <= 0:
        return [], []
    if m >= 1 << 26 or not _stream_matches(m, seed):  # (m * m < 2**53 below); another Python's randrange
        return _bootstrap_agreement_slow(gold, pred, reps, seed, kappa)
    labels = sorted(set(gold) | set(pred))
    at = {lab: i for i, lab in enumerate(labels)}
    L = len(labels)
    codes = [at[g] * L + at[p] for g, p in zip(gold, pred)]
    np = _numpy_for(reps * m)
    accs: list[float] = []
    kaps: list[float] = []
    if np is not None:
        code_arr = np.asarray(codes, dtype=np.int32)
        for idx in _resamples(m, reps, seed, np):
            rows = len(idx)
            c = code_arr[idx] + (np.arange(rows, dtype=np.int32) * (L * L))[:, None]
            counts = np.bincount(c.ravel(), minlength=rows * L * L).reshape(rows, L, L)
            # cohen_kappa's arithmetic on whole arrays: int / int and float64 ops, the same bits
            # as Python's (every count and m * m is an integer below 2**53)
            po = counts[:, np.arange(L), np.arange(L)].sum(axis=1) / m
            accs.extend(po.tolist())
            if kappa:
                pe = (counts.sum(axis=2) * counts.sum(axis=1)).sum(axis=1) / (m * m)
                with np.errstate(divide="ignore", invalid="ignore"):
                    k = np.where(pe >= 1.0, np.where(po >= 1.0, 1.0, 0.0), (po - pe) / (1 - pe))
                kaps.extend(k.tolist())
    else:
        for idx in _resamples(m, reps, seed, None):
            got = Counter(map(codes.__getitem__, idx))
            _agreement([got.get(i, 0) for i in range(L * L)], L, m, accs, kaps, kappa)
    return accs, kaps


def bootstrap_means(values: Sequence[float], reps: int, seed: int = 0) -> list[float]:
    """The means `sum(values[i] for i in idx) / m` of `reps` bootstrap resamples `bootstrap_indices(m, reps,
    seed)` gives, equal to the last bit: the same floats summed in the same order by the same builtin sum
    (indices from the block stream, values gathered in C)."""
    m = len(values)
    if m == 0 or reps <= 0:
        return []
    if not _stream_matches(m, seed):
        return bootstrap_means_reference(values, reps, seed)
    np = _numpy_for(reps * m)
    if np is not None and all(type(v) is float for v in values):
        arr = np.asarray(values, dtype=np.float64)
        means: list[float] = []
        for idx in _resamples(m, reps, seed, np):
            rows = arr[idx]
            if _PLAIN_SUM:  # cumsum adds left to right as sum does: ((0 + x0) + x1) + ...
                rows[:, 0] += 0.0  # (0 + -0.0 is 0.0)
                with np.errstate(all="ignore"):  # (inf and nan as sum gives them, without warnings)
                    means.extend((np.cumsum(rows, axis=1)[:, -1] / m).tolist())
            else:  # the builtin on the same floats (tolist() gives them back)
                means.extend(sum(row) / m for row in rows.tolist())
        return means
    get = values.__getitem__
    return [sum(map(get, idx)) / m for idx in _resamples(m, reps, seed, None)]


def bootstrap_means_reference(values: Sequence[float], reps: int, seed: int = 0) -> list[float]:
    """The reference of bootstrap_means: one Python call per resampled item."""
    if not values:
        return []
    return [sum(values[i] for i in idx) / len(idx) for idx in bootstrap_indices(len(values), reps, seed)]


def _agreement(counts: list[int], L: int, m: int, accs: list[float], kaps: list[float], kappa: bool) -> None:
    """Append one resample's accuracy and kappa (the arithmetic of cohen_kappa) from its pair counts."""
    po = sum(counts[i * L + i] for i in range(L)) / m
    accs.append(po)
    if kappa:
        gold_n = [sum(counts[i * L:(i + 1) * L]) for i in range(L)]
        pred_n = [sum(counts[i::L]) for i in range(L)]
        pe = sum(gold_n[i] * pred_n[i] for i in range(L)) / (m * m)
        kaps.append((1.0 if po >= 1.0 else 0.0) if pe >= 1.0 else (po - pe) / (1 - pe))


def _bootstrap_agreement_slow(gold: Sequence[str], pred: Sequence[str], reps: int, seed: int,
                              kappa: bool) -> tuple[list[float], list[float]]:
    """The reference: one Python call per resampled item (and the path where the stream is not known)."""
    m = len(gold)
    accs: list[float] = []
    kaps: list[float] = []
    for idx in bootstrap_indices(m, reps, seed):
        bg = [gold[i] for i in idx]
        bp = [pred[i] for i in idx]
        accs.append(sum(a == b for a, b in zip(bg, bp)) / m)
        if kappa:
            kaps.append(cohen_kappa(bg, bp))
    return accs, kaps


def percentile_interval(values: Iterable[float], digits: int = 4) -> list[float] | None:
    """The 2.5th and 97.5th percentiles of bootstrap values (nan left out); None when none are left."""
    vals = sorted(v for v in values if v == v)
    if not vals:
        return None
    lo = vals[int(0.025 * (len(vals) - 1))]
    hi = vals[int(round(0.975 * (len(vals) - 1)))]
    return [round(lo, digits), round(hi, digits)]
