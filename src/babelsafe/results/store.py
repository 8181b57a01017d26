"""The run store's writer: one SQLite file (WAL) per run dir holding every sample, probe, model call,
generation and verdict (tables in results/schema.py). Writes go through a background thread in
batches so the event loop never waits on the disk; the runner's few reads (cache lookups, resume)
use their own connection. Metrics, reports and exports read through results/readers.py.
"""
from __future__ import annotations

import collections
import itertools
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from ..types import ERROR, Generation, Probe, Sample, Verdict, fast_encode
from .schema import SCHEMA, SCHEMA_VERSION, connect, store_version, upgrade

_SQL = {
    "sample": "INSERT OR IGNORE INTO samples VALUES (?,?,?,?,?,?,?,?)",
    "probe": "INSERT OR IGNORE INTO probes VALUES (?,?,?,?,?,?,?,?,?)",
    "call": "INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "generation": "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "verdict": "INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?,?)",
    "component": "INSERT OR REPLACE INTO components VALUES (?,?,?)",
    "dataset": "INSERT OR REPLACE INTO datasets VALUES (?,?)",
    "meta": "INSERT OR REPLACE INTO meta VALUES (?,?)",
}


# Rows go in as multi-row INSERTs of this many rows (the rest of a batch one by one): SQLite runs
# them in order exactly as one INSERT per row, and the writer thread gives up and takes back the GIL
# once per statement step (sqlite3 releases it around each step), so fewer handoffs with the event
# loop's thread.
_ROWS_PER_INSERT = 32


def _insert_rows(con: sqlite3.Connection, kind: str, rows: list[tuple]) -> None:
    sql = _SQL[kind]
    n = len(rows) - len(rows) % _ROWS_PER_INSERT
    if n:
        many = _MULTI.get(kind)
        if many is None:
            one = sql[sql.index(" VALUES ") + 8:]
            many = _MULTI[kind] = sql + ("," + one) * (_ROWS_PER_INSERT - 1)
        flat = itertools.chain.from_iterable
        for i in range(0, n, _ROWS_PER_INSERT):
            con.execute(many, list(flat(rows[i:i + _ROWS_PER_INSERT])))
    if n < len(rows):
        con.executemany(sql, rows[n:] if n else rows)


_MULTI: dict[str, str] = {}

_ENCODE = fast_encode(json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str))


def _j(obj: Any) -> str:
    """Compact JSON, non-ASCII kept (json.dumps with options builds an encoder on every call)."""
    return _ENCODE(obj) if obj else ("{}" if isinstance(obj, dict) else _ENCODE(obj))


def _text(value: Any) -> str | None:
    """A meta value as the column text SQLite's json_extract would give (v1 stores are upgraded so)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return str(value)
    return _j(value)


class Store:
    """A run's SQLite store. Use `write_*` from any coroutine (non-blocking, batched); call `close()`
    (or use as a context manager) to flush. Reads see only flushed rows; call `flush()` first."""

    # Batches: committed every `flush_interval` seconds or `batch_size` rows. A commit writes every page
    # it changed to the WAL, and rows with random keys change pages all over each key's index: fewer,
    # larger commits write (and later checkpoint) fewer pages (~5 rows a sample, ~1,000 samples/s).
    def __init__(self, path: str | Path, batch_size: int = 5000, flush_interval: float = 0.5):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._read = connect(self.path)
        fresh = self._read.execute("SELECT count(*) FROM sqlite_master WHERE name='meta'").fetchone()[0] == 0
        if fresh:
            self._read.executescript(SCHEMA)
            self._read.execute(_SQL["meta"], ("schema_version", str(SCHEMA_VERSION)))
            self._read.execute(_SQL["meta"], ("created", str(time.time())))
            self._read.commit()
        else:
            upgrade(self._read, store_version(self._read, self.path), self.path)
            self._read.executescript(SCHEMA)
            self._read.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._read.commit()
        # Writers append to a deque (atomic, no lock per row); one thread drains it in batches.
        self._dq: collections.deque[tuple[str, tuple]] = collections.deque()
        self._batch_size = batch_size
        self._interval = flush_interval
        self._wake = threading.Event()
        self._cond = threading.Condition()
        self._flush_requested = 0
        self._flush_done = 0
        self._closing = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._writer, name="babelsafe-store", daemon=True)
        self._thread.start()

    # -- writer thread -------------------------------------------------------------------------
    def _writer(self) -> None:
        con = connect(self.path)
        # checkpoint the WAL every ~40 MB instead of every 4 MB: the random-key B-tree pages a run rewrites
        # are copied into the database less often (~8% less writer CPU); the last close checkpoints it all
        con.execute("PRAGMA wal_autocheckpoint=10000")
        order = ("meta", "component", "dataset", "sample", "probe", "call", "generation", "verdict")
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._cond:
                requested, closing = self._flush_requested, self._closing
            pending: dict[str, list[tuple]] = {}
            while True:
                try:
                    kind, row = self._dq.popleft()
                except IndexError:
                    break
                pending.setdefault(kind, []).append(row)
            if pending:
                try:
                    with con:
                        for kind in order:
                            rows = pending.get(kind)
                            if rows:
                                _insert_rows(con, kind, rows)
                except BaseException as e:  # surfaced to the caller on flush/close
                    self._error = e
            with self._cond:
                self._flush_done = requested
                self._cond.notify_all()
            if closing and not self._dq:
                break
        con.close()

    def _put(self, kind: str, row: tuple) -> None:
        self._dq.append((kind, row))
        if len(self._dq) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float = 60) -> None:
        """Block until everything written so far is committed."""
        with self._cond:
            self._flush_requested += 1
            target = self._flush_requested
            self._wake.set()
            self._cond.wait_for(lambda: self._flush_done >= target or not self._thread.is_alive(), timeout)
        if self._error:
            raise RuntimeError(f"writing {self.path} failed: {self._error}") from self._error

    def close(self) -> None:
        if self._thread.is_alive():
            with self._cond:
                self._closing = True
            self._wake.set()
            self._thread.join()
        self._read.close()
        if self._error:
            raise RuntimeError(f"writing {self.path} failed: {self._error}") from self._error

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writes (non-blocking) -----------------------------------------------------------------
    def write_meta(self, key: str, value: Any) -> None:
        self._put("meta", (key, value if isinstance(value, str) else _j(value)))

    def write_component(self, kind: str, name: str, config: dict[str, Any]) -> None:
        self._put("component", (kind, name, _j(config)))

    def write_sample(self, s: Sample) -> None:
        self._put("sample", (s.key, s.dataset, s.id, s.language, s.category, s.prompt, _j(s.meta),
                             _text(s.meta.get("label"))))

    def write_probe(self, p: Probe, key: str | None = None, sample_key: str | None = None,
                    messages_json: str | None = None) -> None:
        """key / sample_key / messages_json: what the runner already computed for this probe (the
        messages' canonical JSON, types.canonical_json), so each is computed once per probe."""
        self._put("probe", (key or p.key, sample_key or p.sample.key, p.language, p.transform,
                            _j(p.chain) if p.chain else "[]", messages_json or _j(p.messages),
                            _j(p.meta) if p.meta else "{}", _text(p.meta.get("pc_pair")),
                            _text(p.meta.get("pc_group"))))

    def write_dataset(self, name: str, taxonomy: str | None) -> None:
        """What a dataset declares (its category taxonomy; panels are chosen by it)."""
        self._put("dataset", (name, taxonomy))

    def write_call(self, cache_key: str, component: str, purpose: str, request: dict[str, Any] | str,
                   g: Generation) -> None:
        """request: a dict, or its JSON text when the caller has it already."""
        self._put("call", (cache_key, component, purpose, request if isinstance(request, str) else _j(request),
                           g.text, g.outcome, g.finish_reason,
                           g.prompt_tokens, g.completion_tokens, g.latency_s, g.error, g.error_kind,
                           g.attempts, time.time()))

    def write_generation(self, probe_key: str, target: str, cache_key: str, g: Generation) -> None:
        self._put("generation", (probe_key, target, cache_key, g.text, g.decoded, g.outcome, g.finish_reason,
                                 g.prompt_tokens, g.completion_tokens, g.latency_s, g.error, g.error_kind,
                                 g.attempts, int(g.cached), time.time()))

    def write_verdict(self, probe_key: str, target: str, v: Verdict) -> None:
        self._put("verdict", (probe_key, target, v.judge, v.label, v.score, v.rationale, v.error,
                              _j(v.extra) if v.extra else "{}", time.time()))

    # -- reads ---------------------------------------------------------------------------------
    def cached_call(self, cache_key: str) -> Generation | None:
        """A stored successful (or content-filtered) answer for this cache key; errors are not cached."""
        row = self._read.execute(
            "SELECT text, outcome, finish_reason, prompt_tokens, completion_tokens, latency_s FROM calls "
            "WHERE cache_key=? AND outcome != ?", (cache_key, ERROR)).fetchone()
        if row is None:
            return None
        return Generation(text=row[0], outcome=row[1], finish_reason=row[2], prompt_tokens=row[3],
                          completion_tokens=row[4], latency_s=row[5], cached=True)

    def cached_answers(self) -> Iterator[tuple[str, str | None, str, str | None, int | None, int | None,
                                               float | None]]:
        """(cache_key, text, outcome, finish_reason, prompt_tokens, completion_tokens, latency_s) of every
        stored answer (errors are not cached), streamed in the table's order (the order they were stored)."""
        cur = self._read.execute(
            "SELECT cache_key, text, outcome, finish_reason, prompt_tokens, completion_tokens, latency_s "
            "FROM calls WHERE outcome != ?", (ERROR,))
        try:
            while True:
                rows = cur.fetchmany(1024)
                if not rows:
                    return
                yield from rows
        finally:  # (also when the reader stops early)
            cur.close()

    def cached_keys(self) -> set[str]:
        """Cache keys of every stored answer (errors are not cached)."""
        return {k for (k,) in self._read.execute("SELECT cache_key FROM calls WHERE outcome != ?", (ERROR,))}

    def finished(self) -> dict[tuple[str, str], str]:
        """(probe_key, target) -> outcome for every stored generation."""
        return {(p, t): o for p, t, o in self._read.execute("SELECT probe_key, target, outcome FROM generations")}

    def judged(self) -> set[tuple[str, str, str]]:
        """(probe_key, target, judge) for verdicts that are not judge errors."""
        return set(self._read.execute(
            "SELECT probe_key, target, judge FROM verdicts WHERE label != 'judge_error'"))

    def stored_generation(self, probe_key: str, target: str) -> Generation:
        """The stored answer of (probe, target) (for resumed work)."""
        row = self._read.execute(
            "SELECT text, decoded, outcome, finish_reason, prompt_tokens, completion_tokens, latency_s "
            "FROM generations WHERE probe_key=? AND target=?", (probe_key, target)).fetchone()
        return Generation(text=row[0], decoded=row[1], outcome=row[2], finish_reason=row[3],
                          prompt_tokens=row[4], completion_tokens=row[5], latency_s=row[6])

    def verdict_labels(self, probe_key: str, target: str) -> list[str]:
        """Every stored verdict label of (probe, target)."""
        return [r[0] for r in self._read.execute(
            "SELECT label FROM verdicts WHERE probe_key=? AND target=?", (probe_key, target))]

    def judge_states(self) -> dict[str, Any]:
        """judge name -> its saved state (e.g. online ensemble weights)."""
        return {name: json.loads(cfg) for name, cfg in self._read.execute(
            "SELECT name, config FROM components WHERE kind='judge_state'")}

    def meta(self) -> dict[str, str]:
        return dict(self._read.execute("SELECT key, value FROM meta"))
