"""ECE, Brier and the reliability table on small examples computed by hand."""
from __future__ import annotations

import pytest

from babelsafe.metrics.calibration import brier, calibration, ece, reliability

CONF = [0.9, 0.9, 0.6, 0.6, 0.3]
RIGHT = [True, False, True, True, False]


def test_ece_and_brier_by_hand():
    # equal-width bins: [0.3, 0.4) conf 0.3 acc 0 (gap 0.3, 1 verdict); [0.6, 0.7) conf 0.6 acc 1 (gap 0.4, 2);
    # [0.9, 1.0] conf 0.9 acc 0.5 (gap 0.4, 2): (0.3 + 0.8 + 0.8) / 5 = 0.38
    assert ece(CONF, RIGHT) == pytest.approx(0.38)
    # (0.1^2 + 0.9^2 + 0.4^2 + 0.4^2 + 0.3^2) / 5 = 1.23 / 5
    assert brier(CONF, RIGHT) == pytest.approx(0.246)
    table = reliability(CONF, RIGHT)
    assert [(b["lo"], b["hi"], b["n"]) for b in table] == [(0.3, 0.4, 1), (0.6, 0.7, 2), (0.9, 1.0, 2)]
    assert [b["accuracy"] for b in table] == [0.0, 1.0, 0.5]


def test_perfectly_calibrated_and_confidence_one():
    conf = [0.75] * 4 + [1.0] * 3
    right = [True, True, True, False, True, True, True]
    assert ece(conf, right) == pytest.approx(0.0)
    assert reliability(conf, right)[-1]["hi"] == 1.0  # 1.0 falls in the last bin
    assert brier([1.0, 0.0], [True, False]) == 0.0


def test_equal_mass_keeps_ties_together():
    # 2 bins of 5 verdicts would cut between two 0.6s: the tie stays in the first bin
    table = reliability(CONF, RIGHT, bins=2, equal_mass=True)
    assert [b["n"] for b in table] == [3, 2]
    # bin 1: conf (0.3 + 0.6 + 0.6) / 3 = 0.5, acc 2/3; bin 2: conf 0.9, acc 0.5
    assert ece(CONF, RIGHT, bins=2, equal_mass=True) == pytest.approx((3 * (2 / 3 - 0.5) + 2 * 0.4) / 5)


def test_weights_count_each_verdict_that_many_times():
    w = [1, 1, 2, 2, 1]
    dup_conf = CONF + [0.6, 0.6]
    dup_right = RIGHT + [True, True]
    assert ece(CONF, RIGHT, weights=w) == pytest.approx(ece(dup_conf, dup_right))
    assert brier(CONF, RIGHT, weights=w) == pytest.approx(brier(dup_conf, dup_right))
    c = calibration(CONF, RIGHT, weights=w)
    assert c["accuracy"] == pytest.approx(5 / 7) and c["n"] == 5
    assert "ece_equal_mass" in c and c["table"][1]["weight"] == 4


def test_mismatched_lengths_and_empty():
    with pytest.raises(ValueError):
        ece([0.5], [True, False])
    assert calibration([], []) == {"n": 0}
