"""kill -9 in the middle of an agent run, then `babelsafe resume`: no finished model call is repeated
(every step is a cached call), and every scenario ends with one trace and one verdict."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fake_openai import ScriptedAgent, messages_key, tool_call
from store_waits import wait_for_rows

pytestmark = pytest.mark.slow


def _stored_call_keys(run_dir: Path) -> set[str]:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        rows = con.execute("SELECT request FROM calls WHERE purpose='agent' AND outcome='ok'").fetchall()
    finally:
        con.close()
    return {messages_key(json.loads(r)) for (r,) in rows}


def test_kill9_mid_agent_run_then_resume_repeats_no_model_call(openai_server, tmp_path, api_key):
    first_tool = lambda body: [tool_call(body["tools"][0]["function"]["name"], {})]  # noqa: E731
    openai_server.responder = ScriptedAgent([first_tool, first_tool, "Done."])  # 3 model calls per scenario
    openai_server.latency = 0.03
    out = tmp_path / "run"
    args = [sys.executable, "-m", "babelsafe", "run", "-d", "agent-scenarios", "-l", "en,zh,es,ar,sw",
            "--target", "openai", "--model", "agent", "--base-url", openai_server.base_url,
            "--api-key-env", "BABELSAFE_TEST_KEY", "-j", "agent-rules", "--concurrency", "4", "--out", str(out),
            "--no-report"]
    proc = subprocess.Popen(args, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_rows(out / "results.sqlite", "calls", 60, proc, limit_s=120)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done_before = _stored_call_keys(out)
    assert 0 < len(done_before) < 600
    r = subprocess.run([sys.executable, "-m", "babelsafe", "resume", str(out), "--no-report"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for key in done_before:  # a stored step was never asked again
        assert openai_server.seen[key] == 1, key
    con = sqlite3.connect(out / "results.sqlite")
    traces = con.execute("SELECT count(*) FROM components WHERE kind='agent_trace'").fetchone()[0]
    gens = con.execute("SELECT outcome, count(*) FROM generations GROUP BY outcome").fetchall()
    verdicts = con.execute("SELECT count(*) FROM verdicts WHERE judge='agent-rules'").fetchone()[0]
    con.close()
    assert traces == 200 and gens == [("ok", 200)] and verdicts == 200
    # the calls the kill interrupted were asked at most twice; all the rest once. Interrupted: the ones in
    # flight (concurrency 4) and answers received but not yet flushed by the store's batched writer, which
    # under a loaded machine reached 9 (the stored ones above are never asked again)
    assert max(openai_server.seen.values()) <= 2 and openai_server.count <= 600 + 16
