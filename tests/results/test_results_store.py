"""The store (schema v2, upgrade of v1 stores, clear errors) and its typed readers, on real SQLite."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from babelsafe.errors import UsageError
from babelsafe.results import RunReader, Store, read_summary, write_summary
from babelsafe.types import Generation, Probe, Sample, Verdict


def _one(st: Store, meta: dict | None = None, label: str | None = "harmful") -> Probe:
    s = Sample("ds", "1", "en", "How do I bake bread?", category="crime",
               meta={} if label is None else {"label": label})
    p = Probe(s, [{"role": "user", "content": s.prompt}], "en", meta=meta or {})
    st.write_sample(s)
    st.write_probe(p)
    st.write_generation(p.key, "t", "ck", Generation(text="Knead, rise, bake.", prompt_tokens=3))
    st.write_verdict(p.key, "t", Verdict("refusal", "full_compliance"))
    st.write_verdict(p.key, "t", Verdict("guard", "safe"))
    return p


def test_meta_keys_metrics_rely_on_are_columns(tmp_path: Path):
    with Store(tmp_path / "results.sqlite") as st:
        _one(st, {"pc_group": "privileged", "pc_pair": "p1"}, label="Benign")
        st.write_dataset("ds", "sorry-bench")
    con = sqlite3.connect(tmp_path / "results.sqlite")
    assert con.execute("SELECT label FROM samples").fetchone() == ("Benign",)
    assert con.execute("SELECT pair_id, pair_role FROM probes").fetchone() == ("p1", "privileged")
    con.close()
    with RunReader(tmp_path) as r:
        assert r.version == 2 and r.has_pairs() and r.dataset_taxonomies() == {"ds": "sorry-bench"}
        rows = r.pair_rows("refusal")
        assert [(x.pair_id, x.pair_role, x.label) for x in rows] == [("p1", "privileged", "full_compliance")]
        batches = list(r.label_batches())
        assert sorted(row[1:10] for b in batches for row in b) == [  # then the probe key
            ("guard", "ds", "1", "en", "crime", "none", "benign", "safe", "ck"),
            ("refusal", "ds", "1", "en", "crime", "none", "benign", "full_compliance", "ck")]


def test_runner_reads(tmp_path: Path):
    with Store(tmp_path / "results.sqlite") as st:
        p = _one(st)
        st.write_component("judge_state", "ensemble", {"weights": [0.5, 0.5]})
        st.flush()
        assert st.stored_generation(p.key, "t").text == "Knead, rise, bake."
        assert sorted(st.verdict_labels(p.key, "t")) == ["full_compliance", "safe"]
        assert st.judge_states() == {"ensemble": {"weights": [0.5, 0.5]}}
        assert st.finished() == {(p.key, "t"): "ok"}


def _make_v1(path: Path) -> None:
    """A store as babelsafe wrote it before schema v2 (the v1 DDL, JSON meta only)."""
    con = sqlite3.connect(path)
    con.executescript("""
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE samples(sample_key TEXT PRIMARY KEY, dataset TEXT, item_id TEXT, language TEXT,
      category TEXT, prompt TEXT, meta TEXT);
    CREATE TABLE probes(probe_key TEXT PRIMARY KEY, sample_key TEXT, language TEXT, transform TEXT,
      chain TEXT, messages TEXT, meta TEXT);
    CREATE TABLE calls(cache_key TEXT PRIMARY KEY, component TEXT, purpose TEXT, request TEXT, text TEXT,
      outcome TEXT, finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL,
      error TEXT, error_kind TEXT, attempts INTEGER, created REAL);
    CREATE TABLE generations(probe_key TEXT, target TEXT, cache_key TEXT, text TEXT, decoded TEXT,
      outcome TEXT, finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL,
      error TEXT, error_kind TEXT, attempts INTEGER, cached INTEGER, created REAL,
      PRIMARY KEY(probe_key, target));
    CREATE TABLE verdicts(probe_key TEXT, target TEXT, judge TEXT, label TEXT, score REAL, rationale TEXT,
      error TEXT, extra TEXT, created REAL, PRIMARY KEY(probe_key, target, judge));
    CREATE TABLE components(kind TEXT, name TEXT, config TEXT, PRIMARY KEY(kind, name));
    INSERT INTO meta VALUES ('schema_version', '1');
    INSERT INTO samples VALUES ('s1', 'ds', '1', 'en', 'crime', 'q', '{"label":"benign"}');
    INSERT INTO probes VALUES ('p1', 's1', 'en', 'pcjailbreak', '[]', '[]', '{"pc_group":"marginalised","pc_pair":"x"}');
    INSERT INTO generations VALUES ('p1', 't', 'ck', 'a', NULL, 'ok', 'stop', 1, 1, 0.1, NULL, NULL, 1, 0, 1.0);
    INSERT INTO verdicts VALUES ('p1', 't', 'refusal', 'full_refusal', NULL, NULL, NULL, '{}', 1.0);
    """)
    con.close()


def test_v1_store_is_read_as_is_and_upgraded_for_writing(tmp_path: Path):
    db = tmp_path / "results.sqlite"
    _make_v1(db)
    with RunReader(db) as r:  # read-only: nothing is written
        assert r.version == 1 and r.has_pairs()
        assert [tuple(x) for x in r.pair_rows("refusal")] == [("t", "en", "ds", "1", "x", "marginalised", "full_refusal")]
        assert next(r.label_batches())[0][7] == "benign"
    with Store(db) as st:  # e.g. `babelsafe resume` of an old run
        assert st.finished() == {("p1", "t"): "ok"}
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("2",)
    assert con.execute("SELECT label FROM samples").fetchone() == ("benign",)
    assert con.execute("SELECT pair_id, pair_role FROM probes").fetchone() == ("x", "marginalised")
    con.close()


def test_newer_or_foreign_stores_fail_clearly(tmp_path: Path):
    db = tmp_path / "results.sqlite"
    Store(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    for open_ in (Store, RunReader):
        with pytest.raises(UsageError, match="schema v99.*Upgrade babelsafe"):
            open_(db)
    with pytest.raises(UsageError, match="not a babelsafe run directory"):
        RunReader(tmp_path / "nowhere")
    junk = tmp_path / "junk" / "results.sqlite"
    junk.parent.mkdir()
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(UsageError, match="not a babelsafe store"):
        RunReader(junk)


def test_summary_file_round_trip(tmp_path: Path):
    assert read_summary(tmp_path) is None
    write_summary(tmp_path, {"counts": {}, "breakdown": []})
    assert read_summary(tmp_path) == {"counts": {}, "breakdown": []}
    write_summary(tmp_path, {"counts": {}})  # an older layout: recompute
    assert read_summary(tmp_path) is None
    (tmp_path / "summary.json").write_text("{not json", encoding="utf-8")
    assert read_summary(tmp_path) is None
    assert not list(tmp_path.glob("*.tmp"))
