"""The shipped refusal model's confidence maps are the ones its training script fits today.

The maps (refusal_model.json `calibration`, `binary_calibration`) are fitted on out-of-fold verdicts of the
dev rows, so any change to the verdict path (a lexicon cue, a rule in refusal_verdict.py) can leave them
stale while every label stays right: the shipped confidences then drift from calibrated without a test
noticing (this happened once: a rule that turned some refusals into compliance moved held-out ECE from
0.025 to 0.033). `train_refusal_judge.py --calibration-only` refits only the maps from the shipped model;
on an unchanged verdict path it must write the shipped file byte for byte.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from judge_data import DEV

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "babelsafe" / "judges" / "data" / "refusal_model.json"


def test_confidence_maps_are_current(tmp_path):
    pytest.importorskip("numpy")
    if not DEV.is_file():
        pytest.skip(f"{DEV} not present")
    out = tmp_path / "refusal_model.json"
    shutil.copyfile(SHIPPED, out)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "train_refusal_judge.py"), "--calibration-only",
                    "--out", str(out)], check=True, capture_output=True, text=True, timeout=600)
    assert out.read_bytes() == SHIPPED.read_bytes(), (
        "refusal_model.json's confidence maps are stale: run "
        "`python scripts/train_refusal_judge.py --calibration-only` and commit the file")
