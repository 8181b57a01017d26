"""Merging slot stores into a run's store (the Ray executor's end of run): the first merge copies the
largest slot store page by page, later ones add rows; both give the same rows as adding every row."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toy_store import write_probe  # noqa: E402

from babelsafe.errors import UsageError  # noqa: E402
from babelsafe.results import Store  # noqa: E402
from babelsafe.results.merge import _TABLES, merge_stores  # noqa: E402
from babelsafe.results.schema import SCHEMA, connect  # noqa: E402


def _slot(path: Path, items: range, label: str = "refusal") -> Path:
    with Store(path) as store:
        for i in items:
            write_probe(store, f"q{i}", "en", label)
    return path


def _rows(path: Path) -> dict[str, list]:
    con = sqlite3.connect(path)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in _TABLES}
    finally:
        con.close()


def test_first_merge_copies_the_largest_slot_and_adds_the_others(tmp_path: Path):
    small = _slot(tmp_path / "s0" / "results.sqlite", range(0, 3))
    big = _slot(tmp_path / "s1" / "results.sqlite", range(3, 12))
    missing = tmp_path / "s2" / "results.sqlite"  # a worker that never started
    copied = merge_stores(tmp_path / "run.sqlite", [small, big, missing])
    empty = tmp_path / "rows.sqlite"  # the row-by-row path: the run's store already exists
    con = connect(empty)
    con.executescript(SCHEMA)
    con.close()
    assert merge_stores(empty, [small, big, missing]) == copied
    assert _rows(tmp_path / "run.sqlite") == _rows(empty)
    assert copied["samples"] == 12 and copied["verdicts"] == 12
    con = sqlite3.connect(tmp_path / "run.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    assert not (tmp_path / "run.sqlite.copy").exists()
    # a later merge (resume) replaces rows a slot redid and keeps the rest
    _slot(small, range(0, 3), label="complied")
    merge_stores(tmp_path / "run.sqlite", [small, big])
    con = sqlite3.connect(tmp_path / "run.sqlite")
    labels = dict(con.execute("SELECT label, count(*) FROM verdicts GROUP BY label").fetchall())
    con.close()
    assert labels == {"complied": 3, "refusal": 9}


def test_a_file_that_is_not_a_store_fails_before_anything_is_written(tmp_path: Path):
    bad = tmp_path / "s0" / "results.sqlite"
    bad.parent.mkdir()
    bad.write_text("not a database")
    with pytest.raises((UsageError, sqlite3.DatabaseError)):
        merge_stores(tmp_path / "run.sqlite", [bad])
    assert not (tmp_path / "run.sqlite").exists()
