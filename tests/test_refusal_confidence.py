"""The refusal judge's confidence calibration map: fitted out of fold, it moves confidences, never labels.

Real model output: dev rows of ../shared/datasets/refusal_dev_xstest (XSTest v2 completions, human
labels); held-out rows (sha256(id) % 3 == 0) are never used here."""
from __future__ import annotations

import json
import math

import pytest

from babelsafe.judges.refusal import RefusalJudge
from babelsafe.judges.refusal_model import CLASSES, Model, fit_calibration, shipped_model

from judge_data import dev_rows


def _dev_rows() -> list[dict]:
    return dev_rows()


def test_shipped_map_moves_confidences_not_labels():
    m = shipped_model()
    assert m.calibration is not None and all(a > 0 for a, _ in m.calibration)
    cal, raw = RefusalJudge(), RefusalJudge(model=m.without_calibration())
    moved = 0
    for r in _dev_rows()[::3]:
        a, b = cal.classify(r["response"], r["prompt"], "en"), raw.classify(r["response"], r["prompt"], "en")
        assert (a.label, a.rationale, a.error) == (b.label, b.rationale, b.error), r["id"]
        assert {k: v for k, v in a.extra.items() if k != "confidence"} == \
               {k: v for k, v in b.extra.items() if k != "confidence"}
        assert a.extra["confidence"] == a.score and 0.0 < a.score < 1.0
        if a.label in CLASSES:
            ca, cb = m.calibration[CLASSES.index(a.label)]
            want = 1 / (1 + math.exp(-(ca * math.log(b.score / (1 - b.score)) + cb)))
            assert a.score == pytest.approx(want, abs=2e-4)  # of the raw confidence rounded to 4 places
            moved += a.score != b.score
        else:  # rule verdicts (invalid) keep their own confidence
            assert a.score == b.score
    assert moved > 50


def test_map_is_monotone_and_identity_without_one():
    m = shipped_model()
    for c in range(len(CLASSES)):
        ps = [0.05 * i for i in range(1, 20)]
        out = [m.confidence(c, p) for p in ps]
        assert out == sorted(out) and len(set(out)) == len(out)
        assert m.without_calibration().confidence(c, 0.37) == 0.37
    assert 0.0 < m.confidence(0, 0.0) < m.confidence(0, 1.0) < 1.0  # clamped, no log(0)


def test_fit_calibration_learns_how_often_verdicts_are_right_and_round_trips():
    base = shipped_model().without_calibration()
    # compliance verdicts at 0.9 right 60% of the time (over-confident), refusals at 0.6 right 90%
    # (under-confident), no partial verdicts (that class keeps the identity)
    classes = [0] * 100 + [1] * 100
    conf = [0.9] * 100 + [0.6] * 100
    right = [i < 60 for i in range(100)] + [i < 90 for i in range(100)]
    m = fit_calibration(base, classes, conf, right, l2=0.0, epochs=4000)
    assert m.confidence(0, 0.9) == pytest.approx(0.6, abs=0.02)
    assert m.confidence(1, 0.6) == pytest.approx(0.9, abs=0.02)
    assert m.calibration[2] == (1.0, 0.0)
    assert m.meta["confidence_calibration"]["verdicts"] == {"full_compliance": 100, "full_refusal": 100,
                                                            "partial_refusal": 0}
    again = Model.from_json(json.loads(json.dumps(m.to_json())))
    assert again.calibration == m.calibration and again.weights == m.weights
