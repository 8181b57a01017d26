"""One read of the store for the summary and the exports (reporting.exports.summarize_and_export) gives
exactly what summarizing first and exporting after gives: the same summary.json, results.csv bytes,
Parquet table and report examples. Checked on the golden fixture runs (schema v2 and the v1 stores the
old code wrote), on the toy store, and on a real run whose translations repeat requests."""
from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import babelsafe
from babelsafe.metrics import summarize
from babelsafe.reporting.exports import export_results, n_strata, summarize_and_export
from babelsafe.reporting.html import write_report
from babelsafe.results import Store
from babelsafe.spec import load_spec
from fixture_run import write_fixture_run
from toy_store import build_toy_store

GOLDEN = Path(__file__).parent / "data" / "golden"


def _without_times(summary: dict) -> str:
    return json.dumps({k: v for k, v in summary.items() if k not in ("generated_at", "compute_s")},
                      ensure_ascii=False)


def _assert_one_pass_equals_two(run: Path, tmp: Path, workers: int | None = 1) -> None:
    two, one = tmp / "two", tmp / "one"
    for d in (two, one):
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(run, d)
    s2 = summarize(two / "results.sqlite")
    e2 = export_results(two / "results.sqlite", two, primary_judge=s2.get("primary_judge"),
                        strata_hint=max(1, n_strata(s2)), tiers=s2.get("tiers"), max_examples=40)
    both = summarize_and_export(one / "results.sqlite", one, max_examples=40, workers=workers)
    assert both is not None, "the one-pass path applies to this run"
    s1, e1 = both
    assert _without_times(s1) == _without_times(s2)  # same figures, same key order
    assert (one / "results.csv").read_bytes() == (two / "results.csv").read_bytes()
    assert e1["rows"] == e2["rows"] and e1["primary_judge"] == e2["primary_judge"]
    assert e1["examples"] == e2["examples"] and e1["examples"]
    pq = pytest.importorskip("pyarrow.parquet")
    assert pq.read_table(one / "results.parquet").equals(pq.read_table(two / "results.parquet"))


@pytest.mark.parametrize("seed", [11, 12])
def test_fixture_runs(tmp_path: Path, seed: int):
    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        write_fixture_run(st, seed=seed)
    _assert_one_pass_equals_two(run, tmp_path)


@pytest.mark.parametrize("name", ["a", "b"])
def test_v1_stores_read_as_they_are(tmp_path: Path, name: str):
    run = tmp_path / "run"
    run.mkdir()
    con = sqlite3.connect(run / "results.sqlite")
    with gzip.open(GOLDEN / f"fixture_store_v1_{name}.sql.gz", "rt", encoding="utf-8") as f:
        con.executescript(f.read())
    con.close()
    _assert_one_pass_equals_two(run, tmp_path)


def test_toy_store(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    build_toy_store(run / "results.sqlite")
    _assert_one_pass_equals_two(run, tmp_path)


def test_repeated_requests(openai_server, tmp_path: Path):
    openai_server.responder = lambda body: "I'm sorry, but I can't help with that."
    spec = load_spec(None, datasets=["multijail"], languages=["en", "bn", "zh"], limit=3,
                     transforms=["none", "translate:to=bn"], judges=["refusal"], out=str(tmp_path / "run"),
                     retries=0, timeout=5, targets=[{"type": "openai", "model": "m", "base_url": openai_server.base_url}])
    s = babelsafe.run(spec).summary
    assert s["by_transform"]["translate"]["duplicates"] > 0  # the run repeats requests
    _assert_one_pass_equals_two(tmp_path / "run", tmp_path)


def test_several_judges_none_in_the_spec_fall_back_to_two_passes(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        write_fixture_run(st, seed=11)
    con = sqlite3.connect(run / "results.sqlite")
    con.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (json.dumps({"judges": []}),))
    con.commit()
    con.close()
    assert summarize_and_export(run / "results.sqlite", run) is None
    write_report(run, recompute=True)  # the report still comes out, from two reads
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["primary_judge"] and (run / "results.csv").exists()


def _small_spec(srv, tmp_path: Path, name: str):
    return load_spec(None, datasets=["multijail"], languages=["en", "zh"], limit=3, judges=["refusal"],
                     out=str(tmp_path / name), retries=0, timeout=5,
                     targets=[{"type": "openai", "model": "m", "base_url": srv.base_url}])


def test_a_run_with_report_writes_everything_from_one_read(openai_server, tmp_path: Path):
    openai_server.responder = lambda body: "I'm sorry, but I can't help with that."
    res = babelsafe.run(_small_spec(openai_server, tmp_path, "run"), report=True)
    run = tmp_path / "run"
    assert res.report == run / "report.html" and res.report.exists()
    assert (run / "results.csv").exists() and res.summary["interrupted"] is False
    again = summarize(run / "results.sqlite")
    again["interrupted"] = False
    assert _without_times(res.summary) == _without_times(json.loads(json.dumps(again)))


def test_a_failing_report_still_leaves_the_summary(openai_server, tmp_path: Path, monkeypatch, caplog):
    import babelsafe.reporting.html as html

    def broken(*a, **k):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(html, "write_report_and_summary", broken)
    openai_server.responder = lambda body: "I'm sorry, but I can't help with that."
    res = babelsafe.run(_small_spec(openai_server, tmp_path, "run"), report=True)
    assert res.report is None and res.summary["counts"]["completed"] == 6
    assert (tmp_path / "run" / "summary.json").exists()
    assert "template exploded" in caplog.text and "babelsafe report" in caplog.text


def test_arrays_built_without_pandas_equal_pa_array():
    pa = pytest.importorskip("pyarrow")
    np = pytest.importorskip("numpy")
    from babelsafe.reporting.exports import _arrow, _built

    columns = [
        ((b"a", None, "\u00e9t\u00e9".encode(), b"", None), pa.string()),
        ((b"ok", b"\xff\xfe bad utf-8", None), pa.string()),  # falls back: replaced characters
        (("str", None, 7), pa.string()),  # a stray int in a text column
        ((1, None, 3, True), pa.int64()),
        ((1, 2.5, b"7", None), pa.int64()),  # stray float / bytes: converted one by one
        ((2**70, 1), pa.int64()),  # overflow: as pa.array does it
        ((0.5, None, 2, 1e300), pa.float64()),
        ((None, None), pa.float64()),
        ((), pa.string()),
    ]
    for values, t in columns:
        try:
            want = _arrow(pa, values, t)
        except OverflowError:
            with pytest.raises(OverflowError):
                _built(pa, np, values, t)
            continue
        got = _built(pa, np, values, t)
        assert got.type == t and got.equals(want), (values, got, want)


# The summary's share of the one read works on the export rows as fetched (reporting.onepass): raw UTF-8
# bytes, counted per distinct key and decoded at the end. These runs exercise what that must get right:
# batches split anywhere (prompts whose languages straddle two batches), several targets in one batch,
# no verdicts at all, prompt labels SQLite lower-cases, non-ASCII values.
@pytest.mark.parametrize("batch", [7, 64])
def test_small_batches(tmp_path: Path, monkeypatch, batch: int):
    import babelsafe.reporting.exports as exports

    monkeypatch.setattr(exports, "BATCH", batch)
    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        write_fixture_run(st, seed=12)
    _assert_one_pass_equals_two(run, tmp_path)


def _edited_toy(tmp_path: Path, *sql: str) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    build_toy_store(run / "results.sqlite")
    con = sqlite3.connect(run / "results.sqlite")
    for q in sql:
        con.execute(q)
    con.commit()
    con.close()
    return run


def test_a_run_without_verdicts(tmp_path: Path):
    _assert_one_pass_equals_two(_edited_toy(tmp_path, "DELETE FROM verdicts"), tmp_path)


def test_prompt_labels_and_values_as_sqlite_lowers_them(tmp_path: Path):
    run = _edited_toy(
        tmp_path,
        "UPDATE samples SET label = 'BeNiGn' WHERE label = 'benign' AND item_id = '5'",
        "UPDATE samples SET label = 'HARMFUL' WHERE label = 'harmful' AND language = 'en'",
        "UPDATE samples SET label = '\u00c9pineux', category = 'cat\u00e9gorie' WHERE language = 'bn'",
        "UPDATE probes SET language = 'zh-Hant' WHERE language = 'zh'")
    _assert_one_pass_equals_two(run, tmp_path)


def test_export_writer_errors_reach_the_caller():
    from babelsafe.reporting.exports import _BatchWriter

    class Broken:
        def write_batch(self, batch):
            raise OSError("disk full")

    w = _BatchWriter((Broken(),))
    with pytest.raises(OSError, match="disk full"):
        for i in range(100):  # the error surfaces at a later put (never a hang on a full queue)
            w.put(i)
        w.close()
    w.close(raise_error=False)  # idempotent: the finally of _write calls it again
    assert not w.thread.is_alive()


# The one read on two cores (onepass.HelperPart): a helper process reads the last rows beside this
# one; its batches, examples and counts are merged as if one process had read everything.
@pytest.fixture
def split_small(monkeypatch):
    import babelsafe.reporting.exports as exports
    import babelsafe.reporting.onepass as onepass

    monkeypatch.setattr(onepass, "SPLIT_MIN_ROWS", 0)
    monkeypatch.setattr(exports, "BATCH", 4)


def _assert_split_equals_two(run: Path, tmp: Path) -> None:
    import babelsafe.reporting.onepass as onepass
    import babelsafe.reporting.exports as exports

    with babelsafe.results.RunReader(run) as r:
        lo, hi = r.rowid_range()
    split = onepass.split_at(2, lo, hi, exports.BATCH)
    assert split is not None and lo < split <= hi  # a helper reads a part
    _assert_one_pass_equals_two(run, tmp, workers=2)
    assert not list((tmp / "one").glob(".onepass-*"))  # the helper's files are gone


@pytest.mark.parametrize("seed", [11, 12])
def test_split_fixture_runs(tmp_path: Path, split_small, seed: int):
    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        write_fixture_run(st, seed=seed)
    _assert_split_equals_two(run, tmp_path)


def test_split_toy_store_and_repeated_requests(openai_server, tmp_path: Path, split_small):
    run = tmp_path / "toy"
    run.mkdir()
    build_toy_store(run / "results.sqlite")
    _assert_split_equals_two(run, tmp_path / "a")
    openai_server.responder = lambda body: "I'm sorry, but I can't help with that."
    spec = load_spec(None, datasets=["multijail"], languages=["en", "bn", "zh"], limit=4,
                     transforms=["none", "translate:to=bn"], judges=["refusal"], out=str(tmp_path / "run"),
                     retries=0, timeout=5, targets=[{"type": "openai", "model": "m", "base_url": openai_server.base_url}])
    babelsafe.run(spec)
    _assert_split_equals_two(tmp_path / "run", tmp_path / "b")


def test_a_failing_helper_is_an_error_and_leaves_no_files(tmp_path: Path):
    pytest.importorskip("pyarrow")
    from babelsafe.reporting.onepass import HelperPart
    from babelsafe.results.readers import ExportQuery

    with pytest.raises(RuntimeError, match="export helper failed"):
        with HelperPart(tmp_path / "missing.sqlite", ExportQuery("SELECT 1", []), [], [], False, 10, 1, 2, 16,
                        tmp_path) as helper:
            list(helper.batches())
    assert not list(tmp_path.glob(".onepass-*"))


def test_merged_parts_equal_one_pass_at_every_split(tmp_path: Path):
    """The helper's part merged after this process's part gives the very state one pass gives (counts
    in first-seen order, per-prompt classes, requests), wherever the rows are split."""
    from babelsafe import languages as langs
    from babelsafe.reporting.onepass import ExportRowsPass

    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        write_fixture_run(st, seed=11)
    with babelsafe.results.RunReader(run) as r:
        judges = r.judges()
        q = r.export_query(judges, {c: langs.tier(c) for c in r.languages()}, 0)
        rows = [row for batch in r.export_batches(q, raw_text=True) for row in batch]

    def state(parts: list[list[tuple]]) -> tuple:
        first = ExportRowsPass(judges, True)
        first.feed(parts[0])
        for part in parts[1:]:
            other = ExportRowsPass(judges, True)
            other.feed(part)
            first.merge(other.state())
        counts, requests, n, unsent, firsts = first.state()
        return (list(counts.items()), requests, n, unsent,
                [(k, list(d.items())) for k, d in firsts.items()])

    whole = state([rows])
    assert len(rows) > 20 and any(len(d) > 1 for _, d in whole[4])
    for k in range(1, len(rows)):
        assert state([rows[:k], rows[k:]]) == whole, k


def test_ranker_panel_checks_the_file_the_ranker_writes():
    """The summary looks for the Language Ranker's file without importing the ranker: same name."""
    from babelsafe.metrics.panels import RANKER_ARTIFACT
    from babelsafe.whitebox.ranker import ARTIFACT

    assert RANKER_ARTIFACT == ARTIFACT


def test_batched_example_details_equal_one_by_one(tmp_path: Path, monkeypatch):
    """The examples' verdict and probe details read in a few IN (...) queries are what the one-by-one
    reads give, for every probe of a fixture run (205 probes in chunks of 64)."""
    import babelsafe.results.readers as readers

    chunks = readers._chunks
    monkeypatch.setattr(readers, "_chunks", lambda keys: chunks(keys, 64))
    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        write_fixture_run(st, seed=11)
    with babelsafe.results.RunReader(run) as r:
        pairs = r.con.execute("SELECT probe_key, target FROM generations").fetchall()
        keys = [pk for pk, _ in pairs] * 3 + ["no-such-probe"]
        for judge in r.judges():
            got = r.verdict_details(keys, judge)
            want = {(pk, t): r.verdict_detail(pk, t, judge) for pk, t in pairs}
            assert got == {k: v for k, v in want.items() if v is not None} and got
        assert r.probe_details(keys) == {pk: r.probe_detail(pk) for pk, _ in pairs}


def test_report_takes_the_helper_when_a_core_is_idle(tmp_path: Path, monkeypatch, split_small):
    """write_report's default (workers None) starts the helper when the load says a core is idle, and
    not on a busy machine; the page and files are the same either way."""
    import babelsafe.reporting.onepass as onepass

    started = []
    real = onepass.HelperPart.__init__

    def spy(self, *a, **k):
        started.append(1)
        real(self, *a, **k)

    monkeypatch.setattr(onepass.HelperPart, "__init__", spy)
    src = tmp_path / "src"
    src.mkdir()
    with Store(src / "results.sqlite") as st:
        write_fixture_run(st, seed=12)
    runs = {}
    for name, load in (("idle", 0.2), ("busy", 9.0)):
        monkeypatch.setattr(onepass, "_load", lambda load=load: load)
        run = runs[name] = tmp_path / name
        shutil.copytree(src, run)
        write_report(run, recompute=True)
        assert len(started) == 1  # the idle machine started one, the busy one did not
    a, b = runs["idle"], runs["busy"]
    assert (a / "results.csv").read_bytes() == (b / "results.csv").read_bytes()
    sa = json.loads((a / "summary.json").read_text(encoding="utf-8"))
    sb = json.loads((b / "summary.json").read_text(encoding="utf-8"))
    assert _without_times(sa) == _without_times(sb)


def test_prefetched_queries_equal_fresh_ones(tmp_path: Path):
    """RunReader.prefetch runs the summary's small queries on a thread; the reader then answers from
    those results exactly what its own queries give, and callers still get their own copies."""
    from babelsafe.results.readers import PREFETCHED, RunReader

    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        write_fixture_run(st, seed=11)
    names = PREFETCHED + ("dataset_sizes", "judge_labels")
    with RunReader(run) as fresh:
        want = {n: getattr(fresh, n)() for n in names}
    with RunReader(run) as r:
        r.prefetch().join()
        assert set(r._pre) == set(PREFETCHED)  # every query was answered by the thread
        got = {n: getattr(r, n)() for n in names}
        assert got == want and want["target_usage"] and want["error_kinds"]
        got["error_kinds"].clear()
        got["target_usage"].clear()
        assert r.error_kinds() == want["error_kinds"] and r.target_usage() == want["target_usage"]
