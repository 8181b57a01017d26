"""Crash safety: kill -9 / Ctrl-C a running `babelsafe run` subprocess, then `babelsafe resume`."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fake_openai import messages_key
from store_waits import wait_for_rows

pytestmark = pytest.mark.slow


def _dataset(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": str(i), "language": "en", "prompt": f"Tell me about cheese {i}."})
                            + "\n" for i in range(n)), encoding="utf-8")
    return path


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "babelsafe", *args]


def _finished_keys(run_dir: Path) -> dict[str, int]:
    """messages-hash (as the server computes it) -> count, for generations stored as answered."""
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        rows = con.execute("SELECT p.messages FROM generations g JOIN probes p USING(probe_key) "
                           "WHERE g.outcome='ok'").fetchall()
        return {messages_key({"messages": json.loads(m)}): 1 for (m,) in rows}
    finally:
        con.close()


def _run_args(srv, data: Path, out: Path, conc: str = "8") -> list[str]:
    return _cmd("run", "--dataset", str(data), "--target", "openai", "--model", "fake", "--base-url", srv.base_url,
                "--api-key-env", "BABELSAFE_TEST_KEY", "--judge", "refusal", "--concurrency", conc, "--out", str(out),
                "--no-report")


@pytest.mark.parametrize("trial", range(2))
def test_kill9_then_resume_completes_everything_exactly_once(openai_server, tmp_path, api_key, trial):
    n = 600
    openai_server.latency = 0.03  # >= 2.2 s of work at 8 in flight: the kill always lands mid-run
    data = _dataset(tmp_path / "d.jsonl", n)
    out = tmp_path / "run"
    env = dict(os.environ)
    proc = subprocess.Popen(_run_args(openai_server, data, out), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    wait_for_rows(out / "results.sqlite", "generations", random.Random(trial).randint(20, 150), proc)
    assert proc.poll() is None, "run finished before it could be killed; raise n"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    finished_before = _finished_keys(out)
    assert 0 < len(finished_before) < n
    seen_before = dict(openai_server.seen)
    r = subprocess.run(_cmd("resume", str(out), "--no-report"), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(out / "results.sqlite")
    gens = con.execute("SELECT outcome, count(*) FROM generations GROUP BY outcome").fetchall()
    per_probe = con.execute("SELECT count(*) FROM generations GROUP BY probe_key HAVING count(*) > 1").fetchall()
    verdicts = con.execute("SELECT count(*) FROM verdicts").fetchone()[0]
    con.close()
    assert gens == [("ok", n)] and per_probe == [] and verdicts == n
    # finished work was never requested again
    for key in finished_before:
        assert openai_server.seen[key] == seen_before[key] == 1, key
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["completed"] == n and summary["counts"]["errors"] == 0


def test_ctrl_c_stops_cleanly_and_keeps_finished_work(openai_server, tmp_path, api_key):
    n = 400
    openai_server.latency = 0.02
    data = _dataset(tmp_path / "d.jsonl", n)
    out = tmp_path / "run"
    proc = subprocess.Popen(_run_args(openai_server, data, out, conc="4"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_for_rows(out / "results.sqlite", "generations", 30, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "resume" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and 0 < summary["counts"]["completed"] < n
    kept = summary["counts"]["completed"]
    before = openai_server.count
    r = subprocess.run(_cmd("resume", str(out), "--no-report"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["completed"] == n
    assert openai_server.count - before <= n - kept + 4  # at most the in-flight ones are asked again


def test_cli_usage_errors_exit_2(tmp_path, openai_server, api_key):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"prompt": \n{"prompt": "also fine"}\n', encoding="utf-8")
    cases = [
        (["run", "--dataset", "nope", "--dry-run"], "Unknown dataset 'nope'"),
        (["run", "--dataset", "multijail", "--languages", "en,qq", "--dry-run"], "Unknown language code 'qq'"),
        (["run", "--dataset", str(bad), "--dry-run"], "line 2"),
        (["run", "--dataset", "multijail", "--limit", "1", "--languages", "en", "--judge", "nope", "--target", "openai",
          "--model", "m", "--base-url", openai_server.base_url, "--out", str(tmp_path / "r")], "Valid judges"),
        (["run", "--dataset", "multijail", "--limit", "1", "--languages", "en", "--target", "openai", "--model", "m",
          "--api-key-env", "NOT_SET_ANYWHERE", "--base-url", "https://api.example.invalid/v1",
          "--out", str(tmp_path / "r")], "NOT_SET_ANYWHERE"),
        (["list", "widgets"], "Cannot list 'widgets'"),
        (["resume", str(tmp_path / "nothing")], "not a babelsafe run dir"),
    ]
    for args, message in cases:
        r = subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert message in " ".join(r.stderr.split()), (args, r.stderr)
    r = subprocess.run(_cmd("run", "--dataset", str(bad), "--skip-bad-rows", "--dry-run"), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"samples": 2' in r.stdout


def test_dry_run_prints_the_plan(tmp_path):
    r = subprocess.run(_cmd("run", "--dataset", "multijail", "--languages", "en,zh,bn", "--limit", "20",
                            "--transform", "none", "--transform", "aim", "--dry-run"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "60 samples x 2 chains x 1 targets = 120 requests" in r.stdout
