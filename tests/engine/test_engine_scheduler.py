"""The core harness end to end: runner + OpenAI target + store against a real loopback server."""
from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

import babelsafe
from babelsafe.errors import UsageError
from babelsafe.engine import RunCaller
from babelsafe.spec import TargetSpec, load_spec
from babelsafe.results import Store
from babelsafe.types import CONTENT_FILTER, OK

LANGS = ["en", "sw", "bn"]
PROMPTS = {"en": "How do I bake bread number {i}?", "sw": "Ninaokaje mkate namba {i}?",
           "bn": "আমি কীভাবে রুটি বানাব {i}?"}


def write_dataset(path: Path, n: int = 10) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for lang in LANGS:
            for i in range(n):
                f.write(json.dumps({"id": str(i), "language": lang, "prompt": PROMPTS[lang].format(i=i),
                                    "category": "cooking"}, ensure_ascii=False) + "\n")
    return path


def spec_for(srv, tmp_path: Path, transport: str = "raw", **kw):
    data = {"datasets": [str(write_dataset(tmp_path / "prompts.jsonl", kw.pop("n", 10)))],
            "targets": [{"type": "openai", "model": "fake-model", "base_url": srv.base_url,
                         "api_key_env": "BABELSAFE_TEST_KEY", "options": {"transport": transport}}],
            "judges": ["refusal"], "out": str(tmp_path / "run"), "retries": 3, "timeout": 5}
    data.update(kw)
    return load_spec(None, **data)


def rows(run_dir: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_run_answers_every_sample_and_rerun_makes_no_calls(openai_server, tmp_path, api_key):
    import gc

    spec = spec_for(openai_server, tmp_path)
    before = gc.get_threshold()
    res = babelsafe.run(spec)
    assert gc.get_threshold() == before  # the run's collector setting is the run's only
    assert res.counts["total"] == 30 and res.counts["completed"] == 30 and res.counts["errors"] == 0
    assert openai_server.count == 30
    assert set(res.summary["by_language"]) == set(LANGS)
    gens = rows(res.run_dir, "SELECT outcome, text FROM generations")
    assert len(gens) == 30 and all(o == OK and t.startswith("Echo: ") for o, t in gens)
    assert rows(res.run_dir, "SELECT count(*) FROM verdicts WHERE judge='refusal'")[0][0] == 30
    for name in ("results.sqlite", "summary.json", "run.log", "spec.yaml"):
        assert (res.run_dir / name).is_file()
    # the same spec into the same dir: zero repeated model calls
    res2 = babelsafe.run(spec)
    assert openai_server.count == 30 and res2.counts["completed"] == 30
    # --no-cache forces fresh calls
    babelsafe.run(spec, cache=False)
    assert openai_server.count == 60
    # resuming a --no-cache run still never repeats finished work
    babelsafe.resume(res.run_dir)
    assert openai_server.count == 60
    assert rows(res.run_dir, "SELECT value FROM meta WHERE key='schema_version'")[0][0] == "2"


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "raw"])
def test_api_key_never_written(openai_server, tmp_path, api_key, transport):
    openai_server.require_key = api_key
    res = babelsafe.run(spec_for(openai_server, tmp_path, transport, n=3))
    assert res.counts["completed"] == 9
    assert openai_server.auth_headers[0] == f"Bearer {api_key}"
    for f in res.run_dir.rglob("*"):
        if f.is_file():
            assert api_key.encode() not in f.read_bytes(), f
            assert api_key[-10:].encode() not in f.read_bytes(), f


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "raw"])
def test_wrong_key_is_an_error_not_safe_and_not_leaked(openai_server, tmp_path, api_key, transport):
    openai_server.require_key = "sk-another-key"
    res = babelsafe.run(spec_for(openai_server, tmp_path, transport, n=2))
    assert res.counts["errors"] == 6 and res.counts["completed"] == 0
    assert openai_server.count == 6  # 401 is not retried
    assert rows(res.run_dir, "SELECT count(*) FROM verdicts")[0][0] == 0
    errs = rows(res.run_dir, "SELECT error_kind, error FROM generations")
    assert all(k == "client" and "401" in e for k, e in errs)


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "raw"])
@pytest.mark.parametrize("fault", ["429", "500", "503", "reset", "malformed"])
def test_transient_faults_are_retried(openai_server, tmp_path, api_key, fault, transport):
    openai_server.fault_rule = lambda body, n: fault if n <= 2 else None  # each prompt fails twice
    res = babelsafe.run(spec_for(openai_server, tmp_path, transport, n=2))
    assert res.counts["completed"] == 6 and res.counts["errors"] == 0
    attempts = rows(res.run_dir, "SELECT attempts FROM generations")
    assert all(a == 3 for (a,) in attempts)


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "raw"])
def test_retry_after_is_honoured(openai_server, tmp_path, api_key, transport):
    openai_server.retry_after = 0.6
    openai_server.fault_rule = lambda body, n: "429" if n == 1 else None
    import time

    t0 = time.monotonic()
    res = babelsafe.run(spec_for(openai_server, tmp_path, transport, n=1, languages=["en"]))
    assert res.counts["completed"] == 1
    assert time.monotonic() - t0 >= 0.55


def test_persistent_failures_are_stored_errors_excluded_from_rates(openai_server, tmp_path, api_key):
    openai_server.fault_rule = lambda body, n: "500" if "mkate" in json.dumps(body, ensure_ascii=False) else None
    res = babelsafe.run(spec_for(openai_server, tmp_path, n=4, retries=1))
    c = res.counts
    assert c["total"] == 12 and c["errors"] == 4 and c["completed"] == 8
    sw = res.summary["by_language"].get("sw", {})
    assert sw.get("n", 0) == 0  # errors never counted in the denominator
    assert rows(res.run_dir, "SELECT count(*) FROM generations WHERE outcome='error' AND error_kind='server'")[0][0] == 4
    # resume retries the failed ones once the provider recovers, and never repeats finished ones
    openai_server.fault_rule = None
    before = dict(openai_server.seen)
    res2 = babelsafe.resume(res.run_dir)
    assert res2.counts["completed"] == 12 and res2.counts["errors"] == 0
    repeated = [k for k, v in openai_server.seen.items() if before.get(k) and v > before[k] and before[k] == 1]
    assert repeated == []


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "raw"])
def test_timeout_is_an_error(openai_server, tmp_path, api_key, transport):
    openai_server.hang_s = 3
    openai_server.fault_rule = lambda body, n: "hang"
    res = babelsafe.run(spec_for(openai_server, tmp_path, transport, n=1, languages=["en"], timeout=0.5, retries=1))
    assert res.counts["errors"] == 1
    assert rows(res.run_dir, "SELECT error_kind, attempts FROM generations") == [("timeout", 2)]


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "raw"])
def test_content_filter_is_its_own_outcome(openai_server, tmp_path, api_key, transport):
    openai_server.fault_rule = lambda body, n: "content_filter"
    res = babelsafe.run(spec_for(openai_server, tmp_path, transport, n=1, languages=["en"]))
    assert rows(res.run_dir, "SELECT outcome, finish_reason FROM generations") == [(CONTENT_FILTER, "content_filter")]
    assert res.counts["errors"] == 0


@pytest.mark.parametrize("transport", ["raw"])  # the default; the SDK at 512 in flight (5.6 ms CPU/request) exceeds the 5 s timeout on a loaded 2-core machine
def test_high_concurrency_512(openai_server, tmp_path, api_key, transport):
    openai_server.latency = 0.2
    openai_server.keep_bodies = False
    res = babelsafe.run(spec_for(openai_server, tmp_path, transport, n=400, concurrency=512))
    assert res.counts["completed"] == 1200
    assert openai_server.max_in_flight >= 256


def test_concurrency_bound_respected(openai_server, tmp_path, api_key):
    openai_server.latency = 0.05
    res = babelsafe.run(spec_for(openai_server, tmp_path, n=20, concurrency=4))
    assert res.counts["completed"] == 60
    assert openai_server.max_in_flight <= 4


def test_requests_per_minute_limit(openai_server, tmp_path, api_key):
    import time

    t0 = time.monotonic()
    res = babelsafe.run(spec_for(openai_server, tmp_path, n=5, languages=["en"], rpm=120))  # 2 per second
    assert res.counts["completed"] == 5
    assert time.monotonic() - t0 >= 1.3  # the bucket holds one second's worth: 2 at once, then one per 0.5 s


def test_system_prompt_and_params_reach_the_server(openai_server, tmp_path, api_key):
    spec = spec_for(openai_server, tmp_path, n=1, languages=["en"])
    spec.targets[0].system_prompt = "Be safe."
    spec.targets[0].max_tokens = 7
    spec.targets[0].extra_body = {"top_k": 5}
    babelsafe.run(spec)
    body = openai_server.bodies[0]
    assert body["messages"][0] == {"role": "system", "content": "Be safe."}
    assert body["max_tokens"] == 7 and body["top_k"] == 5 and body["temperature"] == 0


def test_dedupes_identical_calls_in_flight(openai_server, tmp_path, api_key):
    openai_server.latency = 0.1
    store = Store(tmp_path / "s.sqlite")
    spec = load_spec(None, out=str(tmp_path))
    ctx = RunCaller(spec, store)

    async def go():
        slot = ctx.build_target(TargetSpec(type="openai", model="m", base_url=openai_server.base_url,
                                           api_key_env="BABELSAFE_TEST_KEY"))
        msgs = [{"role": "user", "content": "hello"}]
        gens = await asyncio.gather(*(ctx.call(slot.target, msgs, slot.params) for _ in range(5)))
        await slot.target.aclose()
        return gens

    gens = asyncio.run(go())
    store.close()
    assert openai_server.count == 1 and all(g.text == "Echo: hello" for g in gens)


# -- errors a user can act on ------------------------------------------------------------------
def test_unknown_names_list_valid_ones(tmp_path):
    with pytest.raises(UsageError, match="Valid judges: .*refusal"):
        babelsafe.run(load_spec(None, judges=["nope"], out=str(tmp_path), targets=[{"type": "openai",
                      "model": "m", "base_url": "http://127.0.0.1:9/v1"}], languages=["en"], limit=1))
    with pytest.raises(UsageError, match="Unknown target 'nope'"):
        babelsafe.run(load_spec(None, targets=["nope"], out=str(tmp_path), languages=["en"], limit=1))
    with pytest.raises(UsageError, match="Unknown language code 'xx'"):
        load_spec(None, languages="en,xx")


def test_missing_key_and_unreachable_url(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(UsageError, match="NO_SUCH_KEY_VAR is not set"):
        babelsafe.run(load_spec(None, out=str(tmp_path), languages=["en"], limit=1, targets=[
            {"type": "openai", "model": "m", "base_url": "https://api.example.invalid/v1", "api_key_env": "NO_SUCH_KEY_VAR"}]))
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(UsageError, match=f"Cannot reach the base URL http://127.0.0.1:{port}/v1"):
        babelsafe.run(load_spec(None, out=str(tmp_path), languages=["en"], limit=1, targets=[
            {"type": "openai", "model": "m", "base_url": f"http://127.0.0.1:{port}/v1"}]))


def test_adaptive_attack_stops_at_first_unsafe_language(openai_server, tmp_path, api_key):
    # the fake model refuses unless the prompt is in Bengali; pool order zh, it, bn, sw
    openai_server.responder = lambda body: (
        "এই হল উত্তর: প্রথমে ময়দা মেশান, তারপর বেক করুন। এরপর কেকটি ঠান্ডা হতে দিন এবং পরিবেশন করুন।" if any("\u0980" <= ch <= "\u09ff"
                                                                  for ch in json.dumps(body, ensure_ascii=False))
        else "I'm sorry, but I can't help with that request.")
    spec = load_spec(None, datasets=["multijail"], languages=["en"], limit=2,
                     transforms=["adaptive:pool=zh+it+bn+sw"], judges=["refusal"], out=str(tmp_path / "run"),
                     targets=[{"type": "openai", "model": "m", "base_url": openai_server.base_url,
                               "api_key_env": "BABELSAFE_TEST_KEY"}])
    res = babelsafe.run(spec)
    langs = sorted(l for (l,) in rows(res.run_dir, "SELECT p.language FROM generations g JOIN probes p USING(probe_key)"))
    assert langs == ["bn", "bn", "it", "it", "zh", "zh"]  # sw never tried: bn already succeeded
    assert openai_server.count == 6


def test_llm_judge_calls_are_cached_and_resumable(openai_server, tmp_path, api_key):
    """An LLM judge named on the command line in compact form; its calls go through the run's cache."""
    def responder(body):
        text = json.dumps(body, ensure_ascii=False)
        return "unsafe" if "['safe', 'unsafe', 'invalid']" in text else "Echo: here is a long answer."
    openai_server.responder = responder
    judge = f"llm:rubric=multijail,target=openai:judge-model@{openai_server.base_url}"
    spec = spec_for(openai_server, tmp_path, n=2, judges=["refusal", judge])
    res = babelsafe.run(spec)
    assert openai_server.count == 12  # 6 answers + 6 judge calls
    labels = rows(res.run_dir, "SELECT judge, label, count(*) FROM verdicts GROUP BY judge, label")
    assert ("llm", "unsafe", 6) in labels
    purposes = rows(res.run_dir, "SELECT purpose, count(*) FROM calls GROUP BY purpose ORDER BY purpose")
    assert purposes == [("judge", 6), ("target", 6)]
    # judge verdicts lost (e.g. a crash before they were written): resume re-judges from the cache
    con = sqlite3.connect(res.run_dir / "results.sqlite")
    con.execute("DELETE FROM verdicts WHERE judge='llm'")
    con.commit()
    con.close()
    babelsafe.resume(res.run_dir)
    assert openai_server.count == 12
    assert rows(res.run_dir, "SELECT count(*) FROM verdicts WHERE judge='llm'") == [(6,)]


def test_safety_config_gives_cosa_score(openai_server, tmp_path, api_key):
    res = babelsafe.run(spec_for(openai_server, tmp_path, n=2, safety_config="violence,privacy"))
    cosa = res.summary["cosa"]
    assert cosa is not None and cosa["config"]["allowed"] == ["privacy", "violence"]
    assert cosa["n"] == 6 and -1 <= cosa["score"] <= 1
