"""Running a finished run again: what is skipped (answered and judged probes, stored answers read once
into memory) gives the same store and summary as doing the work again; what is not finished (a new judge,
a judge error, a stored error) is still done. Real loopback server."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import sqlite3
from pathlib import Path

import pytest

import babelsafe
from babelsafe.engine import ModelCaller, StoreCache
from babelsafe.engine.caller import _ENTRY_BYTES
from babelsafe.results import Store
from babelsafe.spec import load_spec
from babelsafe.types import CONTENT_FILTER, ERROR, OK, GenParams, Generation
from babelsafe.xling.dataset import Row, samples
from babelsafe.xling.task import _NO, _YES, NO, UNPARSABLE, YES, parse_yes_no


def _spec(srv, tmp_path: Path, judges=("refusal",), n: int = 12):
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "language": "en", "prompt": f"How do I fold towel {i}?"})
                            + "\n" for i in range(n)), encoding="utf-8")
    return load_spec(None, datasets=[str(data)], judges=list(judges), out=str(tmp_path / "run"), retries=0,
                     targets=[{"type": "openai", "model": "m", "base_url": srv.base_url,
                               "api_key_env": "BABELSAFE_TEST_KEY"}])


def _rows(run_dir: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return sorted(con.execute(sql).fetchall(), key=repr)
    finally:
        con.close()


def _execute(run_dir: Path, sql: str) -> None:
    con = sqlite3.connect(run_dir / "results.sqlite")
    con.execute(sql)
    con.commit()
    con.close()


GENS = "SELECT probe_key, target, cache_key, text, outcome, attempts, cached, created FROM generations"
VERDICTS = "SELECT probe_key, judge, label, created FROM verdicts"


def test_rerun_adds_a_judge_rejudges_judge_errors_retries_errors_and_keeps_the_rest(openai_server, tmp_path,
                                                                                     api_key):
    openai_server.fault_rule = lambda body, n: ("content_filter" if "towel 3?" in body["messages"][-1]["content"]
                                                else "500" if "towel 5?" in body["messages"][-1]["content"]
                                                else None)
    spec = _spec(openai_server, tmp_path)
    res = babelsafe.run(spec)
    run = res.run_dir
    assert res.counts["errors"] == 1 and openai_server.count == 12
    gens, verdicts = _rows(run, GENS), _rows(run, VERDICTS)
    assert len(verdicts) == 10  # neither the error nor the filtered answer is judged

    # everything finished: no call, no row written again (the same rows, the same timestamps)
    openai_server.fault_rule = lambda body, n: ("content_filter" if "towel 3?" in body["messages"][-1]["content"]
                                                else "500" if "towel 5?" in body["messages"][-1]["content"]
                                                else None)
    n = openai_server.count
    babelsafe.resume(run)
    assert openai_server.count == n + 1  # only the stored error is asked again (and fails again)
    again = {r[0]: r for r in _rows(run, GENS)}
    for row in gens:
        if row[4] != ERROR:
            assert again[row[0]] == row
    assert _rows(run, VERDICTS) == verdicts

    # a judge error is judged again, a new judge judges every answer, the stored error is retried (now ok)
    _execute(run, "UPDATE verdicts SET label='judge_error' WHERE rowid = (SELECT min(rowid) FROM verdicts)")
    openai_server.fault_rule = lambda body, n: ("content_filter" if "towel 3?" in body["messages"][-1]["content"]
                                                else None)
    n = openai_server.count
    res = babelsafe.run(_spec(openai_server, tmp_path, judges=("refusal", "xstest-strmatch")))
    assert openai_server.count == n + 1
    by_judge = _rows(run, "SELECT judge, count(*) FROM verdicts WHERE label != 'judge_error' GROUP BY judge")
    assert by_judge == [("refusal", 11), ("xstest-strmatch", 11)]
    assert _rows(run, "SELECT outcome, count(*) FROM generations GROUP BY outcome") == [(CONTENT_FILTER, 1), (OK, 11)]
    assert res.counts["errors"] == 0


def test_store_cache_reads_stored_answers_once_within_its_memory(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    rnd = random.Random(7)
    answers = {}
    for i in range(300):
        g = Generation(text=rnd.choice(["", "ok answer " * rnd.randint(1, 50), "ответ", None]),
                       outcome=rnd.choice([OK, OK, OK, CONTENT_FILTER, ERROR]), finish_reason=rnd.choice([None, "stop"]),
                       prompt_tokens=rnd.choice([None, 3]), completion_tokens=rnd.choice([None, 0, 9]),
                       latency_s=rnd.choice([None, 0.1 + i / 7]), error="boom" if i % 5 == 4 else None)
        store.write_call(f"k{i}", "t", "target", "{}", g)
        answers[f"k{i}"] = g
    store.flush()
    keys = list(answers) + ["absent"]
    expected = {k: store.cached_call(k) for k in keys}
    assert sum(v is None for v in expected.values()) > 20  # errors and the absent key are not answers

    full = StoreCache(store, bulk_after=0)
    assert full.lookup("absent") is None and not full._answers  # (a miss: no read)
    half_budget = sum(_ENTRY_BYTES + (len(g.text or "") + 60) for g in answers.values()) // 2
    caches = [full, StoreCache(store, memory=0, bulk_after=0), StoreCache(store, memory=half_budget, bulk_after=0),
              StoreCache(store, bulk_after=10), StoreCache(store, bulk_after=1000)]
    for cache in caches:
        for k in keys:
            assert cache.lookup(k) == expected[k], k  # the same Generation, fields and cached=True
    assert len(full._answers) == sum(v is not None for v in expected.values())
    assert 0 < len(caches[2]._answers) < len(full._answers) and not caches[1]._answers
    assert caches[3]._answers == full._answers  # read at the 11th hit
    assert not caches[4]._answers  # fewer hits than bulk_after: one query each
    assert StoreCache(store, reuse=False).lookup("k0") is None

    # a key recorded again (here: as an error) is read from the store, not from memory
    key = next(k for k in keys if expected[k] is not None)
    full.record(key, "t", "target", "{}", Generation(text=None, outcome=ERROR, error="later"))
    store.flush()
    assert full.lookup(key) is None
    store.close()


def test_run_caller_hits_come_from_memory_without_a_query(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    store.write_call("k", "t", "target", "{}", Generation(text="hi", latency_s=0.5))
    store.flush()
    cache = StoreCache(store, bulk_after=0)
    store.cached_call = None  # type: ignore[assignment]  # a query would fail
    hit = cache.lookup("k")
    assert hit == Generation(text="hi", latency_s=0.5, cached=True)
    store.close()


@pytest.mark.parametrize("params", [
    GenParams(), GenParams(temperature=1, max_tokens=8, top_p=0.9, seed=3, stop=["\n", "END"]),
    GenParams(stop=[]), GenParams(extra_body={"a": [1, {"b": 2}]}), GenParams(stop=("x",)),  # type: ignore[arg-type]
    GenParams(temperature=True, seed="7"),  # type: ignore[arg-type]
    GenParams(stop=[1, "a"]),  # type: ignore[list-item]
])
def test_gen_params_as_dict_is_asdict(params):
    d = params.as_dict()
    assert d == dataclasses.asdict(params) and list(d) == list(dataclasses.asdict(params))
    assert [type(v) for v in d.values()] == [type(v) for v in dataclasses.asdict(params).values()]
    if params.stop is not None:
        assert d["stop"] is not params.stop  # a copy, as asdict's
    d["extra_body"]["x"] = 1
    assert "x" not in params.extra_body


def _parse_yes_no_before(text):
    """parse_yes_no as it was (the specification)."""
    import re
    import unicodedata

    t = unicodedata.normalize("NFKC", text or "").strip().strip("*\"'「」“”.").casefold()
    if not t:
        return UNPARSABLE
    for cands, label in ((sorted(_NO, key=len, reverse=True), NO), (sorted(_YES, key=len, reverse=True), YES)):
        for c in cands:
            if ord(c[0]) > 0x2E80 and t.startswith(c):
                return label
    m = re.compile(r"[\w\u0900-\u097F\u0980-\u09FF\u0E00-\u0E7F]+", re.UNICODE).search(t)
    first = m.group(0) if m else ""
    return NO if first in _NO else YES if first in _YES else UNPARSABLE


def test_parse_yes_no_is_unchanged():
    rnd = random.Random(3)
    words = list(_YES + _NO) + ["Yes.", "**No**", "maybe", "是不是", "不是的", "はいいいえ", "", "  ", "Nope", "不对吧"]
    texts = [None, ""] + [rnd.choice(words) + rnd.choice(["", " ", ".", ", it is", "的"]) + rnd.choice(words)
                          for _ in range(3000)]
    assert [parse_yes_no(t) for t in texts] == [_parse_yes_no_before(t) for t in texts]


def test_negative_pairs_are_unchanged():
    """The negative reference of each sample: the (pos mod n)th of the other keyed items, as the list
    comprehension it replaced picked it."""
    rnd = random.Random(5)
    langs = ["en", "es", "fr"]
    rows = [Row(id=f"i{i:03d}", language=lang, question=f"q{i} {lang}",
                answer=(f"a{i} {lang}" if rnd.random() < 0.8 else None), category=None)
            for i in range(60) for lang in langs if rnd.random() < 0.9]
    got = list(samples(rows, "d", None))
    by_item: dict = {}
    for r in rows:
        by_item.setdefault(r.id, {})[r.language] = r
    ids = sorted(by_item)
    for s in got:
        keyed = [i for i in ids if s.language in by_item[i] and by_item[i][s.language].answer]
        row = by_item[s.id].get(s.language)
        want = None
        if row is not None and row.answer and len(keyed) > 1:
            others = [i for i in keyed if i != s.id]
            want = by_item[others[ids.index(s.id) % len(others)]][s.language].answer
        assert s.meta["consistency"]["negative"] == want


def test_a_task_is_built_once_per_run_and_called_like_the_registry(monkeypatch):
    from babelsafe.engine import scheduler
    from babelsafe.types import Probe, Sample

    built = []
    real = scheduler.registry

    def spy(kind):
        built.append(kind)
        return real(kind)

    monkeypatch.setattr(scheduler, "registry", spy)

    class Slot:
        label = "t"

    made: dict = {}
    sample = Sample(dataset="d", id="1", language="en", prompt="q",
                    meta={"task": "consistency", "consistency": {"missing": "no en version"}})
    probe = Probe(sample=sample, messages=[{"role": "user", "content": "q"}], language="en")
    for _ in range(3):
        g = asyncio.run(scheduler.run_task(probe, Slot(), ModelCaller(), made))  # type: ignore[arg-type]
        assert g.error_kind == "invalid_item"
    assert built == ["task"] and set(made) == {"consistency"}
