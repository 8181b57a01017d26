"""The Ray executor on a real local Ray cluster (started by the tests, bound to 127.0.0.1) against the
loopback OpenAI-compatible server: same summary as a local run, a worker killed mid-run, the driver killed
with kill -9 and resumed, and RPM limits shared by all workers."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import babelsafe  # noqa: E402
from babelsafe.executors.queue import pack, unpack  # noqa: E402
from babelsafe.executors.ray import RateBuckets, RayExecution, SampleQueue  # noqa: E402
from babelsafe.spec import load_spec  # noqa: E402
from babelsafe.types import Sample  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, namespace="babelsafe", log_to_driver=False,
             _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


def _dataset(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            lang = ("en", "sw")[i % 2]
            prompt = f"Tell me about cheese {i}." + (" [refuse]" if i % 3 == 0 else "")
            f.write(json.dumps({"id": str(i // 2), "language": lang, "prompt": prompt}) + "\n")
    return path


def _spec(srv, tmp_path: Path, name: str, n: int = 40, **kw):
    data = {"datasets": [str(_dataset(tmp_path / "prompts.jsonl", n))],
            "targets": [{"type": "openai", "model": "fake", "base_url": srv.base_url,
                         "api_key_env": "BABELSAFE_TEST_KEY"}],
            "judges": ["refusal"], "out": str(tmp_path / name), "retries": 2, "timeout": 30}
    data.update(kw)
    return load_spec(None, **data)


def _generations(run_dir: Path) -> list[tuple]:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return con.execute("SELECT probe_key, outcome, text FROM generations ORDER BY probe_key").fetchall()
    finally:
        con.close()


def _retries(run_dir: Path) -> int:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return con.execute("SELECT coalesce(sum(attempts - 1), 0) FROM generations").fetchone()[0]
    finally:
        con.close()


def _comparable(summary: dict) -> dict:
    """The summary without what differs between any two runs (times, latencies, the run dir)."""
    drop = {"run_dir", "created", "started", "finished", "duration_s", "latency", "latency_s", "tokens",
            "run", "executor", "throughput", "compute_s", "generated_at"}

    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items() if k not in drop and "latency" not in k}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x
    return clean(summary)


def test_ray_summary_equals_local(ray_cluster, openai_server, tmp_path, api_key):
    local = babelsafe.run(_spec(openai_server, tmp_path, "local"))
    openai_server.seen.clear()
    remote = babelsafe.run(_spec(openai_server, tmp_path, "ray", executor={"name": "ray", "workers": 2}))
    assert _comparable(remote.summary) == _comparable(local.summary)
    assert remote.counts["completed"] == 40
    # the cache is per run dir: the Ray run asked every prompt, and asked again only when the engine
    # retried (a timeout under load is retried and recorded in `attempts`)
    assert len(openai_server.seen) == 40
    assert sum(openai_server.seen.values()) - 40 <= _retries(remote.run_dir)
    assert [g[:2] for g in _generations(remote.run_dir)] == [g[:2] for g in _generations(local.run_dir)]
    # every sample ran in exactly one worker's store (how many each took depends on when each started:
    # under load one worker may take them all before the other's process is up, which is the point)
    per_slot = []
    for db in sorted((remote.run_dir / "shards").glob("*/results.sqlite")):
        con = sqlite3.connect(db)
        per_slot.append([r[0] for r in con.execute("SELECT sample_key FROM samples")])
        con.close()
    assert 1 <= len(per_slot) <= 2 and sum(map(len, per_slot)) == 40
    assert len(set().union(*map(set, per_slot))) == 40
    assert (remote.run_dir / "summary.json").is_file()
    assert api_key not in (remote.run_dir / "results.sqlite").read_bytes().decode("utf-8", "replace")


def test_worker_killed_mid_run_is_replaced_and_the_run_completes(ray_cluster, openai_server, tmp_path, api_key):
    n = 160
    openai_server.latency = 0.05
    spec = _spec(openai_server, tmp_path, "killed", n=n, concurrency=4, executor={"name": "ray", "workers": 2})
    execution = RayExecution(spec)
    killed: list[str] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        while openai_server.count < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        name = execution.actor_names().get(0)
        if name:
            ray.kill(ray.get_actor(name, namespace="babelsafe"), no_restart=True)
            killed.append(name)

    t = threading.Thread(target=killer)
    t.start()
    result = execution.execute()
    t.join()
    assert killed, "the test did not manage to kill a worker"
    assert result.counts["completed"] == n and result.counts.get("errors", 0) == 0
    assert len(_generations(result.run_dir)) == n
    con = sqlite3.connect(result.run_dir / "results.sqlite")
    meta = dict(con.execute("SELECT key, value FROM meta"))
    con.close()
    assert json.loads(meta["executor"])["restarts"] == {"0": 1}
    # repeats only for what was in flight or not yet written when the worker died (its 2 slots and
    # the writer's last batch window), never the shard's finished work
    repeats = sum(openai_server.seen.values()) - n
    assert 0 <= repeats <= 20 + _retries(result.run_dir)


def test_shared_rate_limit_holds_across_workers(ray_cluster, openai_server, tmp_path, api_key):
    t0 = time.monotonic()
    res = babelsafe.run(_spec(openai_server, tmp_path, "rpm", n=8, rpm=240,  # 4 per second cluster-wide
                              executor={"name": "ray", "workers": 2}))
    assert res.counts["completed"] == 8
    # one shared bucket: 4 at once (one second's worth), then one per 0.25 s -> >= 1 s for 8 requests.
    # Two private buckets would allow 8 at once.
    assert time.monotonic() - t0 >= 1.0


def test_rate_buckets_reserve_in_arrival_order():
    b = RateBuckets()
    waits = [b.reserve("t", 60, None, 1) for _ in range(4)]  # 1 per second, bucket of 1
    assert waits[0] == 0
    assert waits[1:] == pytest.approx([1, 2, 3], abs=0.05)
    assert b.reserve("other", None, None, 10) == 0


def _sample(name: str) -> Sample:
    return Sample(dataset="d", id=name, language="en", prompt=f"Tell me about cheese {name}.")


def test_queue_hands_out_shrinking_chunks_and_keeps_a_slots_samples():
    q = SampleQueue([_sample(f"s{i}") for i in range(40)], {1: [_sample(x) for x in "abc"]}, workers=2)

    def take(slot: int, want: int) -> list[str]:
        return [s.id for s in q.take(slot, want)]

    first = take(0, 100)
    assert first == [f"s{i}" for i in range(10)]  # ceil(40 / (2 workers x 2)): a quarter of the queue
    assert take(0, 3) == ["s10", "s11", "s12"]  # never more than the worker has slots for
    assert take(1, 2) == ["a", "b"] and take(1, 2) == ["c"]  # a slot's own samples first
    assert len(take(1, 100)) == 7  # then shared: ceil(27 / 4)
    sizes = []
    while chunk := take(0, 100):
        sizes.append(len(chunk))
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1 and q.remaining() == 0
    # slot 1's worker died after storing "a" and "s13": those go back to slot 1, the rest to everyone
    freed = q.requeue(1, [_sample("a").key, _sample("s13").key, "zz-from-an-earlier-attempt"])
    assert freed == 8
    assert take(1, 10) == ["a", "s13"]
    assert take(0, 1) == ["b"] and q.remaining() == 7


def test_samples_cross_as_plain_pickle_bytes_and_come_back_equal():
    """The queue's wire form (pack/unpack) keeps every field, the cached key and the order; the queue
    takes it in (how the driver fills it) and hands chunks out in it (what workers call)."""
    from babelsafe.images.media import Image  # noqa: F401 - an importable class in `images` travels too

    odd = Sample(dataset="d", id="x", language="sw", prompt="Habari ya asubuhi?", category="greeting",
                 meta={"tags": ["mild"], "label": "safe", "n": 1.5}, images=[b"\x89PNG"])
    odd.key  # cached before it travels
    plain = [_sample(f"s{i}") for i in range(5)]
    back = unpack(pack([odd, *plain]))
    assert back == [odd, *plain] and back[0].key == odd.key and back[0]._key == odd._key
    assert back[1]._key is None  # not computed before: not invented on the way
    assert type(pack(plain)) is bytes and unpack(pack([])) == []
    # what plain pickle cannot take goes through cloudpickle, which pickle.loads reads
    local = Sample(dataset="d", id="f", language="en", prompt="Tell me about bread.", meta={"fn": lambda: 7})
    assert unpack(pack([local]))[0].meta["fn"]() == 7
    q = SampleQueue(pack(plain), {1: pack([odd])}, workers=1)
    assert unpack(q.take_packed(1, 5)) == [odd] and [s.id for s in unpack(q.take_packed(0, 2))] == ["s0", "s1"]
    # slot 0's worker died having stored s0: s0 stays with slot 0, s1 goes back to the front for anyone
    assert q.requeue(0, [plain[0].key]) == 1
    assert [s.id for s in q.take(1, 1)] == ["s1"] and [s.id for s in q.take(0, 1)] == ["s0"]


def test_resume_keeps_each_sample_with_the_worker_that_stored_it(ray_cluster, openai_server, tmp_path, api_key):
    """A run dir whose slot stores already hold some samples (an earlier attempt): on resume every such
    sample is run by its slot (answers from its store, no call), the rest are shared."""
    first = babelsafe.run(_spec(openai_server, tmp_path, "again", n=40, executor={"name": "ray", "workers": 2}))
    assert first.counts["completed"] == 40
    stored = {}
    for k in (0, 1):
        con = sqlite3.connect(first.run_dir / "shards" / str(k) / "results.sqlite")
        stored[k] = {r[0] for r in con.execute("SELECT sample_key FROM samples")}
        con.close()
    openai_server.seen.clear()
    again = babelsafe.run(_spec(openai_server, tmp_path, "again", n=40, executor={"name": "ray", "workers": 2}))
    assert again.counts["completed"] == 40 and sum(openai_server.seen.values()) == 0
    for k in (0, 1):
        con = sqlite3.connect(again.run_dir / "shards" / str(k) / "results.sqlite")
        assert {r[0] for r in con.execute("SELECT sample_key FROM samples")} == stored[k]
        con.close()


def test_driver_kill9_then_resume_repeats_no_finished_call(openai_server, tmp_path, api_key):
    """The CLI driver (with its own local Ray cluster) killed with kill -9, then `babelsafe resume`."""
    openai_server.latency = 0.1
    n = 120
    data = _dataset(tmp_path / "prompts.jsonl", n)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "babelsafe", "run", "--dataset", str(data), "--target", "openai", "--model",
           "fake", "--base-url", openai_server.base_url, "--api-key-env", "BABELSAFE_TEST_KEY", "--judge",
           "refusal", "--concurrency", "4", "--out", str(out), "--no-report", "--executor", "ray",
           "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while openai_server.count < 40 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # let the shard writers' last batches land (their processes outlive the driver briefly)
    finished = _finished_in_shards(out)
    assert finished, "nothing was finished before the kill"
    before = dict(openai_server.seen)
    res = subprocess.run([sys.executable, "-m", "babelsafe", "resume", str(out), "--no-report"],
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["completed"] == n
    asked_again = [k for k in finished if openai_server.seen[k] > before.get(k, 0)]
    assert asked_again == []


def _finished_in_shards(out: Path) -> set[str]:
    from fake_openai import messages_key

    keys: set[str] = set()
    for db in (out / "shards").glob("*/results.sqlite"):
        con = sqlite3.connect(db)
        try:
            for (m,) in con.execute("SELECT p.messages FROM generations g JOIN probes p USING(probe_key) "
                                    "WHERE g.outcome='ok'"):
                keys.add(messages_key({"messages": json.loads(m)}))
        except sqlite3.OperationalError:
            pass
        finally:
            con.close()
    return keys
