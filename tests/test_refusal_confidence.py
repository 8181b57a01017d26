"""The refusal judge's confidence calibration map: fitted out of fold, it moves confidences, never labels.

Real model output: dev rows of ../shared/datasets/refusal_dev_xstest (XSTest v2 completions, human
labels); held-out rows (sha256(id) % 3 == 0) are never used here."""
from __future__ import annotations

import json
import math

import pytest

from babelsafe.judges.refusal import RefusalJudge
from babelsafe.judges.refusal_model import (CLASSES, Model, fit_binary_calibration, fit_calibration,
                                            shipped_model)

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
        assert {k: v for k, v in a.extra.items() if k not in ("confidence", "binary_confidence")} == \
               {k: v for k, v in b.extra.items() if k not in ("confidence", "binary_confidence")}
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


def test_binary_confidence_is_the_mapped_confidence_of_refused_or_not():
    """extra["binary_confidence"] (what a cascade with on=refused compares): P(refused) for a refusal
    verdict, 1 - P(refused) for compliance, through the binary map; the label, its confidence, the
    rationale and every other field are those of the model without the binary map."""
    m = shipped_model()
    assert m.binary_calibration is not None and all(a > 0 for a, _ in m.binary_calibration)
    no_binary = Model(m.weights, m.bias, m.temperature, m.meta, m.partial, m.calibration, None)
    cal, raw = RefusalJudge(), RefusalJudge(model=no_binary)
    moved = 0
    for r in _dev_rows()[::3]:
        a, b = cal.classify(r["response"], r["prompt"], "en"), raw.classify(r["response"], r["prompt"], "en")
        assert (a.label, a.score, a.rationale, a.error) == (b.label, b.score, b.rationale, b.error), r["id"]
        assert {k: v for k, v in a.extra.items() if k != "binary_confidence"} == \
               {k: v for k, v in b.extra.items() if k != "binary_confidence"}
        if a.label not in CLASSES:  # rule verdicts: their label is the binary decision; no binary confidence
            assert "binary_confidence" not in a.extra
            continue
        refused = a.label != "full_compliance"
        p_side = a.extra["p_refused"] if refused else 1 - a.extra["p_refused"]
        assert b.extra["binary_confidence"] == pytest.approx(p_side, abs=2e-4)  # no map: the raw decision's
        ba, bb = m.binary_calibration[int(refused)]
        q = b.extra["binary_confidence"]
        want = 1 / (1 + math.exp(-(ba * math.log(q / (1 - q)) + bb)))
        assert a.extra["binary_confidence"] == pytest.approx(want, abs=2e-4)
        moved += a.extra["binary_confidence"] != b.extra["binary_confidence"]
        # a refusal's binary confidence counts full and partial together: never below P(its label) raw
        if refused:
            assert a.extra["p_refused"] >= a.extra["probs"][a.label]
    assert moved > 50


def test_fit_binary_calibration_learns_per_side_and_round_trips():
    base = shipped_model()
    # answers judged refused at 0.95 right 80% of the time; judged compliance at 0.7 right 95%
    refused = [True] * 100 + [False] * 100
    conf = [0.95] * 100 + [0.7] * 100
    right = [i < 80 for i in range(100)] + [i < 95 for i in range(100)]
    m = fit_binary_calibration(base, refused, conf, right, l2=0.0, epochs=4000)
    assert m.binary_confidence(True, 0.95) == pytest.approx(0.8, abs=0.02)
    assert m.binary_confidence(False, 0.7) == pytest.approx(0.95, abs=0.02)
    assert m.calibration == base.calibration and m.weights == base.weights  # the label map stays
    assert m.meta["binary_calibration"]["verdicts"] == {"not_refused": 100, "refused": 100}
    again = Model.from_json(json.loads(json.dumps(m.to_json())))
    assert again.binary_calibration == m.binary_calibration and again.calibration == m.calibration
    assert m.without_calibration().binary_confidence(True, 0.37) == 0.37
    out = [m.binary_confidence(True, 0.05 * i) for i in range(1, 20)]
    assert out == sorted(out) and len(set(out)) == len(out)  # monotone
