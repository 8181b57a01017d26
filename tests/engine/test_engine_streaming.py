"""Samples stream: the runner pulls them from the datasets as workers free up (a bounded window, never
the whole dataset), writes each to the store when it is pulled, and `limit` keeps bounded heaps that
choose exactly what sorting the whole dataset by hash chose."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from babelsafe.engine import samples as samples_mod
from babelsafe.engine import scheduler
from babelsafe.errors import DataError, UsageError
from babelsafe.spec import load_spec
from babelsafe.types import Sample

LANGS = ["en", "sw", "bn"]


def _spec(srv, tmp_path: Path, data: str, **kw):
    d = {"datasets": [data],
         "targets": [{"type": "openai", "model": "fake-model", "base_url": srv.base_url if srv else
                      "http://127.0.0.1:9/v1", "api_key_env": "BABELSAFE_TEST_KEY"}],
         "judges": ["refusal"], "out": str(tmp_path / "run"), "retries": 1, "timeout": 10}
    d.update(kw)
    return load_spec(None, **d)


def _jsonl(path: Path, n: int, langs=LANGS) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            for lang in langs:
                f.write(json.dumps({"id": str(i), "language": lang, "prompt": f"How do I bake loaf {i}?"}) + "\n")
    return path


class Counting:
    """A dataset stream that counts the samples pulled from it and, at each pull, how many pulled
    samples the runner has not finished yet."""

    def __init__(self, n: int, runner_ref: list):
        self.n, self.runner_ref = n, runner_ref
        self.pulled = 0
        self.max_pending = 0

    def __iter__(self):
        for i in range(self.n):
            runner = self.runner_ref[0] if self.runner_ref else None
            if runner is not None:
                self.max_pending = max(self.max_pending, self.pulled - runner.progress.done)
            self.pulled += 1
            yield Sample(dataset="gen", id=str(i), language=LANGS[i % 3], prompt=f"How do I bake loaf {i}?")


def test_runner_pulls_samples_through_a_bounded_window(openai_server, tmp_path, api_key, monkeypatch):
    n, workers = 600, 8
    ref: list = []
    stream = Counting(n, ref)
    monkeypatch.setattr(scheduler, "load_samples", lambda spec, taxonomies=None: iter(stream))
    spec = _spec(openai_server, tmp_path, str(_jsonl(tmp_path / "unused.jsonl", 1)), concurrency=workers)
    runner = scheduler.Runner(spec)
    ref.append(runner)
    import asyncio

    res = asyncio.run(runner.run())
    assert stream.pulled == n and res.counts["total"] == n and res.counts["completed"] == n
    assert runner.progress.samples == n and runner.progress.total == n
    # at every pull, at most one unfinished sample per worker (plus the one being pulled)
    assert 0 < stream.max_pending <= workers + 1
    con = sqlite3.connect(res.run_dir / "results.sqlite")
    try:
        assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == n
        assert con.execute("SELECT name FROM datasets").fetchall() == [("gen",)]
    finally:
        con.close()


def test_an_interrupted_run_stored_only_the_samples_it_pulled(openai_server, tmp_path, api_key, monkeypatch):
    ref: list = []
    stream = Counting(100_000, ref)  # far more than the run gets to
    monkeypatch.setattr(scheduler, "load_samples", lambda spec, taxonomies=None: iter(stream))
    spec = _spec(openai_server, tmp_path, str(_jsonl(tmp_path / "unused.jsonl", 1)), concurrency=4)
    runner = scheduler.Runner(spec, on_progress=lambda p: p.done >= 40 and runner.request_stop())
    ref.append(runner)
    import asyncio

    res = asyncio.run(runner.run())
    assert res.interrupted
    assert stream.pulled <= 40 + 4 + 1  # the stream was never read ahead
    con = sqlite3.connect(res.run_dir / "results.sqlite")
    try:
        assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == stream.pulled
    finally:
        con.close()


def test_load_samples_is_lazy_and_files_validate_before_the_first_sample(tmp_path, monkeypatch):
    from babelsafe.datasets import files

    f = _jsonl(tmp_path / "p.jsonl", 2000)
    monkeypatch.setattr(files, "KEEP_CHARS", 10_000)  # a large file (6,000 rows here): a second, lazy pass
    built = files._built
    pulled = []

    def counting(raws, builder, bad):
        for s in built(raws, builder, bad):
            pulled.append(1)
            yield s

    monkeypatch.setattr(files, "_built", counting)
    it = samples_mod.load_samples(_spec(None, tmp_path, str(f)))
    first = next(it)
    assert first.id == "0" and first.language == "en"
    assert len(pulled) == 1  # one sample built, not 6,000
    # a bad row anywhere in the file fails when the stream is opened, before any sample
    bad = tmp_path / "bad.jsonl"
    bad.write_text(f.read_text(encoding="utf-8") + '{"prompt": ""}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 6001: empty prompt"):
        samples_mod.load_samples(_spec(None, tmp_path, str(bad)))


def test_a_small_file_is_read_once_and_gives_what_two_passes_give(tmp_path, monkeypatch):
    from babelsafe.datasets import files

    f = tmp_path / "p.jsonl"
    rows = [{"id": str(i), "language": "EN" if i % 2 else "sw", "prompt": f"How do I bake loaf {i}?",
             "category": "cooking", "label": "benign" if i % 3 else "harmful", "note": i} for i in range(300)]
    rows.insert(7, {"language": "en", "prompt": "   "})  # a bad row, skipped in both ways
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    opened = []
    lines = files._lines

    def counting(path):
        opened.append(path)
        return lines(path)

    monkeypatch.setattr(files, "_lines", counting)
    once = list(files.load_file(f, skip_bad_rows=True))
    assert len(opened) == 2  # the first-record check, then the one validating pass
    monkeypatch.setattr(files, "KEEP_CHARS", 0)
    twice = list(files.load_file(f, skip_bad_rows=True))
    assert len(opened) == 5  # ... and a second pass when the file is over the budget
    assert len(once) == 300 and once == twice
    assert [s.key for s in once] == [s.key for s in twice]
    assert (once[7].id, once[7].language, once[7].category) == ("7", "en", "cooking")  # "EN" normalised
    assert once[8].meta == {"note": 8, "raw_category": "cooking", "label": "benign"}
    assert once[9].meta["label"] == "harmful"


def _reference(samples: list[Sample], limit: int, seed: int) -> list[Sample]:
    """What load_samples chose before it streamed: group by language, sort by hash, take `limit`."""
    by_lang: dict[str, list[Sample]] = {}
    for s in samples:
        by_lang.setdefault(s.language, []).append(s)
    out = []
    for items in by_lang.values():
        if len(items) > limit:
            items = sorted(items, key=lambda s: hashlib.sha256(f"{seed}:{s.id}".encode()).digest())[:limit]
        out.extend(items)
    return out


@pytest.mark.parametrize("limit", [1, 7, 50, 400])
def test_limit_heaps_choose_what_the_full_sort_chose(tmp_path, limit):
    langs = ["en", "sw", "bn", "zh"]
    rows = [Sample(dataset="d", id=f"item-{i}", language=langs[(i * 7) % 4] if i % 5 else "en",
                   prompt=f"p{i}") for i in range(300)]
    spec = _spec(None, tmp_path, str(_jsonl(tmp_path / "unused.jsonl", 1)), limit=limit, seed=3)
    got = list(samples_mod._stream(spec, [("d", object(), iter(rows))], None))
    want = _reference(rows, limit, 3)
    assert [(s.language, s.id) for s in got] == [(s.language, s.id) for s in want]


def test_a_dataset_without_the_requested_languages_fails_with_what_it_has(tmp_path):
    f = _jsonl(tmp_path / "p.jsonl", 3, langs=["en"])
    it = samples_mod.load_samples(_spec(None, tmp_path, str(f), languages=["sw"]))
    with pytest.raises(UsageError, match="no prompts in sw"):
        next(it)


def test_dry_run_plan_counts_without_a_list(tmp_path):
    f = _jsonl(tmp_path / "p.jsonl", 40)
    plan = samples_mod.plan(_spec(None, tmp_path, str(f), limit=25))
    assert plan["samples"] == 75 and plan["by_language"] == {"en": 25, "sw": 25, "bn": 25}


class Queue:
    """A work queue as an executor hands samples out (Runner's `sample_source`): chunks of `want`."""

    def __init__(self, samples: list[Sample], taxonomies: dict[str, str]):
        self.left, self.taxonomies = list(samples), taxonomies
        self.chunks: list[int] = []

    async def take(self, want: int) -> list[Sample]:
        out, self.left = self.left[:want], self.left[want:]
        self.chunks.append(len(out))
        return out


def _admitted(run_dir: Path) -> tuple[list, list]:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return (con.execute("SELECT name, taxonomy FROM datasets ORDER BY name").fetchall(),
                con.execute("SELECT sample_key FROM samples ORDER BY sample_key").fetchall())
    finally:
        con.close()


def test_a_work_queue_admits_samples_as_the_stream_does(openai_server, tmp_path, api_key, monkeypatch):
    """The stream and a work queue take samples in alike (scheduler._Admit): each dataset's row once with
    its taxonomy, every sample's row, and progress counted per sample x chain x target."""
    import asyncio

    samples = [Sample(dataset=f"set{i % 2}", id=str(i), language=LANGS[i % 3], prompt=f"How do I bake loaf {i}?")
               for i in range(30)]
    tax = {"set0": "tax-a", "set1": "tax-b"}

    def load(spec, taxonomies=None):
        taxonomies.update(tax)  # as load_samples fills it while the datasets open
        return iter(samples)

    monkeypatch.setattr(scheduler, "load_samples", load)
    data = str(_jsonl(tmp_path / "unused.jsonl", 1))
    two_chains = ["none", "base64"]
    streamed = scheduler.Runner(_spec(openai_server, tmp_path / "s", data, transforms=two_chains, concurrency=4))
    res_s = asyncio.run(streamed.run())
    queue = Queue(samples, tax)
    pulled = scheduler.Runner(_spec(openai_server, tmp_path / "q", data, transforms=two_chains, concurrency=4),
                              sample_source=queue)
    res_q = asyncio.run(pulled.run())
    assert len(queue.chunks) > 2 and queue.chunks[-1] == 0  # several chunks, then the empty answer
    for runner, res in ((streamed, res_s), (pulled, res_q)):
        assert runner.progress.samples == 30 and runner.progress.total == 60 == runner.progress.done
        assert res.counts["total"] == 60
    datasets, keys = _admitted(res_s.run_dir)
    assert datasets == [("set0", "tax-a"), ("set1", "tax-b")] and len(keys) == 30
    assert _admitted(res_q.run_dir) == (datasets, keys)
