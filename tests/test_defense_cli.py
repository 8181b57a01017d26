"""The `guard` and `defend` commands (a real `babelsafe guard serve` process; CliRunner for the others)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai
from typer.testing import CliRunner

from babelsafe.cli import app
from babelsafe.defense.lang import refusal_text

from test_defense_scan import ROWS, write


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_guard_serve_process(openai_server, tmp_path):
    def responder(body):
        last = body["messages"][-1]["content"]
        if "[leak]" in last:
            return ("Извините, но я не могу помочь. Однако вот общий обзор: шаг первый — смешайте муку и воду, шаг "
                    "второй — добавьте соль и дрожжи, шаг третий — замесите тесто и оставьте его подниматься на час.")
        return "Echo: " + last

    openai_server.responder = responder
    port = _free_port()
    env = {**os.environ, "GUARD_TOKEN_T": "tok-123"}
    proc = subprocess.Popen([sys.executable, "-m", "babelsafe", "guard", "serve", "--upstream", openai_server.base_url,
                             "--port", str(port), "--token-env", "GUARD_TOKEN_T", "--audit-log",
                             str(tmp_path / "a.jsonl")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "guard did not start"
                time.sleep(0.2)
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="tok-123", max_retries=0)
        r = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "Как испечь хлеб? [leak]"}])
        assert r.choices[0].message.content == refusal_text("ru") and r.choices[0].finish_reason == "content_filter"
        r = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "Как испечь хлеб?"}])
        assert r.choices[0].message.content == "Echo: Как испечь хлеб?"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    lines = (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["action"] for x in lines] == ["blocked_output", "pass"]
    assert "tok-123" not in (tmp_path / "a.jsonl").read_text(encoding="utf-8")


def test_guard_serve_usage_errors():
    def run(*args):
        r = CliRunner().invoke(app, ["guard", "serve", *args])
        return r.exit_code, " ".join(r.output.split())

    code, text = run("--upstream", "localhost:8000")
    assert code == 2 and "--upstream must be" in text
    code, text = run("--upstream", "http://127.0.0.1:1/v1", "--token-env", "NOPE_X")
    assert code == 2 and "NOPE_X" in text
    code, text = run("--upstream", "http://127.0.0.1:1/v1", "--check", "input")
    assert code == 2 and "cannot screen input" in text and "guard on" not in text


def test_defend_scan_exit_codes(tmp_path):
    bad = write(tmp_path / "bad.jsonl", ROWS)
    r = CliRunner().invoke(app, ["defend", "scan", str(bad), "--json"])
    assert r.exit_code == 1
    summary = json.loads(r.stdout[: r.stdout.rindex("}") + 1])
    assert summary["flagged"] == 4 and "es" in summary["by_language"]
    r = CliRunner().invoke(app, ["defend", "scan", str(bad), "--threshold", "0.6"])
    assert r.exit_code == 0 and "identity_shift" in r.stdout
    clean = write(tmp_path / "clean.jsonl", ROWS[:2])
    assert CliRunner().invoke(app, ["defend", "scan", str(clean)]).exit_code == 0


def test_defend_export_cli(openai_server, tmp_path, api_key):
    import babelsafe

    ds = tmp_path / "d.jsonl"
    ds.write_text("\n".join(json.dumps({"id": str(i), "language": "en", "prompt": f"Tell me about bread {i}.",
                                        "label": "harmful", "category": "cooking"}) for i in range(3)) + "\n")
    babelsafe.run({"datasets": [str(ds)], "judges": ["refusal"], "out": str(tmp_path / "run"),
                   "targets": [{"type": "openai", "model": "m", "base_url": openai_server.base_url,
                                "api_key_env": "BABELSAFE_TEST_KEY"}]})
    r = CliRunner().invoke(app, ["defend", "export", str(tmp_path / "run"), "--format", "sft", "--out",
                                 str(tmp_path / "o.jsonl"), "--no-hf"])
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 3
    assert "cooking" in r.stdout
    r = CliRunner().invoke(app, ["defend", "export", str(tmp_path), "--out", str(tmp_path / "x.jsonl")])
    assert r.exit_code == 2 and "not a babelsafe run dir" in " ".join(r.output.split())
    assert not Path(tmp_path / "x.jsonl").exists()
