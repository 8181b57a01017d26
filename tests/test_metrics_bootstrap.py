"""bootstrap_agreement (counts from a block-drawn index stream) == the reference loop over
bootstrap_indices + cohen_kappa, and bootstrap_means == the per-item loop of sum(values[i]) / m, to the
last bit, on the numpy and the pure-Python paths."""
from __future__ import annotations

import random

import pytest

from babelsafe.metrics import stats
from babelsafe.metrics.stats import (_bootstrap_agreement_slow, _index_blocks, bootstrap_agreement,
                                     bootstrap_indices, bootstrap_means, bootstrap_means_reference,
                                     percentile_interval)

LABELS = ["full_compliance", "full_refusal", "partial_refusal", "invalid"]


def pairs(m: int, seed: int, classes: int = 4, agree: float = 0.8) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    gold = [rng.choice(LABELS[:classes]) for _ in range(m)]
    pred = [g if rng.random() < agree else rng.choice(LABELS) for g in gold]
    return gold, pred


@pytest.mark.parametrize("m", [1, 2, 3, 7, 64, 65, 127, 128, 129, 1000, 4099])
def test_index_stream_is_randrange(m):
    for seed in (0, 1, 12345):
        want = [i for idx in bootstrap_indices(m, 3, seed) for i in idx]
        got: list[int] = []
        for block in _index_blocks(m, seed, None):
            got.extend(block)
            if len(got) >= len(want):
                break
        assert got[:len(want)] == want
        assert stats._stream_matches(m, seed)  # so the fast path is the one the tests below compare


@pytest.mark.parametrize("use_numpy", [False, True])
@pytest.mark.parametrize("m,classes,agree", [(1, 4, 0.8), (2, 2, 0.5), (37, 4, 0.8), (300, 1, 1.0),
                                             (300, 1, 0.7), (513, 3, 0.95), (2048, 4, 0.6), (3001, 2, 1.0)])
def test_same_values_as_the_loop(monkeypatch, use_numpy, m, classes, agree):
    if use_numpy:
        pytest.importorskip("numpy")
        monkeypatch.setattr(stats, "_NUMPY_FROM", 0)
    else:
        monkeypatch.setattr(stats, "_NUMPY_FROM", float("inf"))
        monkeypatch.setattr(stats, "_NUMPY_LOADED_FROM", float("inf"))
    gold, pred = pairs(m, m, classes, agree)
    for seed in (0, 7):
        for kappa in (True, False):
            want = _bootstrap_agreement_slow(gold, pred, 60, seed, kappa)
            got = bootstrap_agreement(gold, pred, 60, seed, kappa)
            assert got == want  # floats equal to the bit (the same int / int arithmetic)
            assert percentile_interval(got[0]) == percentile_interval(want[0])


def test_numpy_batches_cross_block_boundaries(monkeypatch):
    """Resamples spanning several index blocks and several numpy passes."""
    pytest.importorskip("numpy")
    monkeypatch.setattr(stats, "_NUMPY_FROM", 0)
    gold, pred = pairs(20011, 3)
    assert bootstrap_agreement(gold, pred, 120, 0) == _bootstrap_agreement_slow(gold, pred, 120, 0, True)


def test_other_randrange_falls_back(monkeypatch):
    """Where the index stream is not randrange's, the reference loop gives the values."""
    gold, pred = pairs(50, 1)
    monkeypatch.setattr(stats, "_stream_matches", lambda m, seed: False)
    assert bootstrap_agreement(gold, pred, 20, 0) == _bootstrap_agreement_slow(gold, pred, 20, 0, True)
    assert bootstrap_agreement([], [], 20, 0) == ([], [])


# -- bootstrap_means (the xling panel's mean-chrF intervals) -----------------------------------------
def bits(xs: list[float]) -> list[str]:
    """Floats as their exact bits (float.hex tells -0.0 from 0.0; nan == nan here)."""
    return [x.hex() for x in xs]


def scores(m: int, seed: int) -> list[float]:
    """chrF-like scores (two decimals, 0-100) and, every 7th list, values of very different magnitudes."""
    rng = random.Random(seed)
    if seed % 7 == 3:
        return [rng.choice([1e16, -1e16, 1.0, 0.1, 3.3e-5, -2.5]) * rng.random() for _ in range(m)]
    return [round(rng.random() * 100, 2) for _ in range(m)]


def paths(monkeypatch, path: str) -> None:
    """Force one of bootstrap_means' paths: numpy + cumsum, numpy + builtin sum, pure Python."""
    if path == "pure":
        monkeypatch.setattr(stats, "_NUMPY_FROM", float("inf"))
        monkeypatch.setattr(stats, "_NUMPY_LOADED_FROM", float("inf"))
        return
    pytest.importorskip("numpy")
    monkeypatch.setattr(stats, "_NUMPY_FROM", 0)
    if path == "numpy-cumsum":
        if not stats._PLAIN_SUM:
            pytest.skip("this Python's sum is not plain left-to-right addition")
    else:
        monkeypatch.setattr(stats, "_PLAIN_SUM", False)


PATHS = ["numpy-cumsum", "numpy-sum", "pure"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("m", [1, 2, 3, 5, 17, 64, 100, 127, 128, 129, 400, 1000, 2047, 4401])
def test_means_are_the_loops_to_the_bit(monkeypatch, path, m):
    paths(monkeypatch, path)
    for seed in (0, 1, 3, 12345):
        values = scores(m, m * 31 + seed)
        want = bootstrap_means_reference(values, 50, seed)
        assert bits(bootstrap_means(values, 50, seed)) == bits(want)
        assert percentile_interval(bootstrap_means(values, 50, seed)) == percentile_interval(want)


@pytest.mark.parametrize("path", PATHS)
def test_means_edge_cases(monkeypatch, path):
    paths(monkeypatch, path)
    assert bootstrap_means([], 100) == [] and bootstrap_means_reference([], 100) == []
    assert bootstrap_means([1.5, 2.5], 0) == []
    cases = [[42.0], [7.25] * 300, [0.0] * 10, [-0.0], [-0.0] * 9,  # -0.0: sum starts at 0, so 0.0
             [-0.0, 1.0, -1.0], [0.1] * 1001, [1e308, 1e308, -1e308], [float("inf"), 1.0],
             [float("inf"), float("-inf"), 2.0], [float("nan"), 1.0, 2.0], [1e16, 1.0, -1e16] * 5]
    for values in cases:
        for seed in (0, 9):
            assert bits(bootstrap_means(values, 40, seed)) == bits(bootstrap_means_reference(values, 40, seed))
    assert bootstrap_means([7.25] * 300, 10) == [7.25] * 10 and bootstrap_means([42.0], 3) == [42.0] * 3


def test_means_of_ints_and_mixed_values(monkeypatch):
    """Not all floats: the builtin sum on the values as they are (ints add exactly)."""
    monkeypatch.setattr(stats, "_NUMPY_FROM", 0)
    for values in ([3, 4, 10**20, 5], [1, 2.5, 3], [True, False, 0.5]):
        assert bits(bootstrap_means(values, 30, 2)) == bits(bootstrap_means_reference(values, 30, 2))


def test_means_numpy_batches_cross_block_boundaries(monkeypatch):
    """m large enough for several numpy passes (2**20 indices each) and several index blocks."""
    paths(monkeypatch, "numpy-cumsum" if stats._PLAIN_SUM else "numpy-sum")
    values = scores(300_001, 5)
    assert bits(bootstrap_means(values, 7, 0)) == bits(bootstrap_means_reference(values, 7, 0))


@pytest.mark.parametrize("twister", [True, False])
@pytest.mark.parametrize("m", [1, 2, 3, 400, 4099, 70_000])
def test_numpy_index_stream_is_randrange(monkeypatch, twister, m):
    """The numpy blocks (numpy's MT19937 at the state of random.Random(seed), or getrandbits when that
    generator is not available) give the indices randrange gives."""
    np = pytest.importorskip("numpy")
    if not twister:
        monkeypatch.setattr(stats, "_numpy_twister", lambda numpy, rng: None)
    else:
        assert stats._numpy_twister(np, random.Random(0)) is not None
    for seed in (0, 5):
        want = [i for idx in bootstrap_indices(m, max(3, 600_000 // m), seed) for i in idx]
        got: list[int] = []
        for block in _index_blocks(m, seed, np, 1024):  # small blocks: many of them
            got.extend(block.tolist())
            if len(got) >= len(want):
                break
        assert got[:len(want)] == want


def test_a_twister_that_draws_other_words_is_not_used():
    np = pytest.importorskip("numpy")

    class Deaf:
        """An MT19937 that ignores the state it is given (draws seed 1's words)."""
        def __init__(self):
            self.mt = np.random.MT19937(1)
            self.random_raw = self.mt.random_raw

        state = property(lambda self: self.mt.state, lambda self, value: None)

    class FakeNumpy:
        random = type("R", (), {"MT19937": Deaf})
        asarray, uint32, frombuffer = np.asarray, np.uint32, np.frombuffer

    class Broken:
        random = type("R", (), {"MT19937": staticmethod(lambda: np.random.PCG64())})
        asarray, uint32, frombuffer = np.asarray, np.uint32, np.frombuffer

    assert stats._numpy_twister(FakeNumpy, random.Random(0)) is None  # other words: not used
    assert stats._numpy_twister(Broken, random.Random(0)) is None  # cannot take the state: not used
    assert stats._numpy_twister(np, random.Random(0)) is not None


def test_means_fall_back_where_the_stream_is_unknown(monkeypatch):
    monkeypatch.setattr(stats, "_stream_matches", lambda m, seed: False)
    values = scores(80, 2)
    assert bits(bootstrap_means(values, 20, 0)) == bits(bootstrap_means_reference(values, 20, 0))


def test_xling_mean_ci_is_the_old_formula():
    """xling._mean_ci's interval == the per-item loop it replaced (percentile of sum(values[i]) / m)."""
    from babelsafe.metrics.xling import BOOTSTRAP, _mean_ci

    for m in (1, 2, 13, 400):
        values = scores(m, m)
        old = percentile_interval(sum(values[i] for i in idx) / len(idx)
                                  for idx in bootstrap_indices(len(values), BOOTSTRAP))
        got = _mean_ci(values)
        assert [got["lo"], got["hi"]] == old and got["n"] == m
    assert _mean_ci([]) == {"mean": None, "lo": None, "hi": None, "n": 0}
