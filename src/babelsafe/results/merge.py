"""Merge shard stores into a run's store (the Ray executor runs one store per shard; see docs/distributed.md).

A shard is a complete run dir of its own (spec, store, cache), so a worker that dies or a driver killed with
kill -9 loses nothing a shard already wrote, and each shard resumes on its own. The run's store is the union
of its shards: rows are copied with INSERT OR REPLACE, so a request retried on resume replaces its failed row.
When the run's store does not exist yet (a run's first merge), the largest shard is copied page by page
(SQLite's backup API) instead of row by row: no index is rebuilt row by row, which made the merge the
largest per-sample cost the Ray executor added to a run (bench_ray --part http).
"""
from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from .schema import SCHEMA, connect, store_version

log = logging.getLogger(__name__)

# table -> replace (the shard's newer row wins) or ignore (identical by construction in every shard)
_TABLES = {"samples": "IGNORE", "probes": "IGNORE", "datasets": "IGNORE", "components": "IGNORE",
           "calls": "REPLACE", "generations": "REPLACE", "verdicts": "REPLACE"}


def merge_stores(dest: str | Path, shards: list[str | Path]) -> dict[str, int]:
    """Copy every row of each shard store into `dest` (created if missing). Returns rows per table in dest.

    Shards that do not exist yet (a worker that never started) are skipped with a log line."""
    dest = Path(dest)
    present = [Path(s) for s in shards if Path(s).is_file()]
    for path in (Path(s) for s in shards if not Path(s).is_file()):
        log.info("shard store %s does not exist yet: skipped", path)
    for path in present:  # a clear error for a file that is not a store of this version, before any write
        probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            store_version(probe, path)
        finally:
            probe.close()
    if present and not dest.exists():
        first = max(present, key=_size)
        _copy(first, dest)
        present.remove(first)
    con = connect(dest)
    try:
        con.executescript(SCHEMA)
        for path in present:
            con.execute("ATTACH DATABASE ? AS shard", (str(path),))
            try:
                with con:
                    for table, mode in _TABLES.items():
                        cols = [r[1] for r in con.execute(f"PRAGMA shard.table_info({table})")]
                        if not cols:
                            continue
                        names = ", ".join(cols)
                        con.execute(f"INSERT OR {mode} INTO main.{table}({names}) "
                                    f"SELECT {names} FROM shard.{table}")
            finally:
                con.execute("DETACH DATABASE shard")
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES}
    finally:
        con.close()


def _size(path: Path) -> int:
    """A store's bytes, its write-ahead log included (rows not yet checkpointed live there)."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.is_file() else 0)


def _copy(src: Path, dest: Path) -> None:
    """`src` store copied to `dest` with SQLite's backup API (a consistent snapshot, its log included),
    through a temporary file renamed at the end: a driver killed mid-copy leaves no half store."""
    tmp = dest.with_name(dest.name + ".copy")
    for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
        leftover.unlink(missing_ok=True)
    source = sqlite3.connect(str(src), timeout=30)
    try:
        target = sqlite3.connect(str(tmp))
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one file to rename; connect() turns WAL back on
        finally:
            target.close()
    finally:
        source.close()
    os.replace(tmp, dest)
