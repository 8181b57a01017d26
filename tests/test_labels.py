"""One vocabulary rule for metrics, the guard and calibration (babelsafe.labels)."""
from __future__ import annotations

import pytest

from babelsafe import labels as L
from babelsafe.errors import UsageError


def test_vocabulary_rule():
    assert L.vocabulary(L.REFUSAL_VOCAB) == L.REFUSAL
    assert L.vocabulary(L.SAFETY_VOCAB) == L.SAFETY
    assert L.vocabulary(["harmful", "harmless"]) == L.SAFETY  # synonyms
    assert L.vocabulary(["complied", "refused"]) == L.REFUSAL
    assert L.vocabulary(["invalid", "judge_error"]) == L.OTHER
    assert L.vocabulary([]) == L.OTHER


def test_classes():
    assert L.verdict_class("full_compliance", harmful=True) == "unsafe"
    assert L.verdict_class("full_compliance", harmful=False) == "safe"
    assert L.verdict_class("unsafe", harmful=False) == "unsafe"
    assert L.verdict_class("invalid") == "invalid"
    assert L.verdict_class("partial_refusal") == "safe"
    for excluded in ("error", "judge_error", "unjudged"):
        assert L.verdict_class(excluded) is None
    assert L.is_refusal("content_filter") and L.is_refusal("partial_refusal") and not L.is_refusal(None)
    assert L.is_benign_prompt("benign") and not L.is_benign_prompt(None) and not L.is_benign_prompt("harmful")


class _J:
    def __init__(self, labels):
        self.name, self.labels = "j", labels


def test_guard_and_calibration_use_the_same_rule():
    from babelsafe.defense.screen import vocabulary as guard_vocabulary
    from babelsafe.judges.calibrate import _vocab_of

    for labels in (L.SAFETY_VOCAB, L.REFUSAL_VOCAB, ("harmful", "harmless")):
        want = L.vocabulary(labels)
        assert guard_vocabulary(_J(labels)) == want
        assert _vocab_of(labels) == want
    with pytest.raises(UsageError, match="safety judge"):
        guard_vocabulary(_J(("yes", "no")))
    assert _vocab_of(("invalid",)) == "refusal"  # calibration scores an undecidable set as refusal
