"""bootstrap_agreement (counts from a block-drawn index stream) == the reference loop over
bootstrap_indices + cohen_kappa, to the last bit, on the numpy and the pure-Python path."""
from __future__ import annotations

import random

import pytest

from babelsafe.metrics import stats
from babelsafe.metrics.stats import (_bootstrap_agreement_slow, _index_blocks, bootstrap_agreement,
                                     bootstrap_indices, percentile_interval)

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
