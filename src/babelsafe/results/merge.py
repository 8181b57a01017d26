"""Merge shard stores into a run's store (the Ray executor runs one store per shard; see docs/distributed.md).

A shard is a complete run dir of its own (spec, store, cache), so a worker that dies or a driver killed with
kill -9 loses nothing a shard already wrote, and each shard resumes on its own. The run's store is the union
of its shards: rows are copied with INSERT OR REPLACE, so a request retried on resume replaces its failed row.
"""
from __future__ import annotations

import logging
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
    con = connect(dest)
    try:
        con.executescript(SCHEMA)
        for shard in shards:
            path = Path(shard)
            if not path.is_file():
                log.info("shard store %s does not exist yet: skipped", path)
                continue
            probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                store_version(probe, path)  # a clear error for a file that is not a store of this version
            finally:
                probe.close()
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
