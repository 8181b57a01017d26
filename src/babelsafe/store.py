"""The run store: one SQLite file (WAL) per run dir holding every sample, probe, model call,
generation and verdict. Writes go through a background thread in batches so the event loop never
waits on the disk; reads use their own connection.

Tables
  meta(key, value)                      schema_version, spec, babelsafe version, timestamps
  samples(sample_key, dataset, item_id, language, category, prompt, meta)
  probes(probe_key, sample_key, language, transform, chain, messages, meta)
  calls(cache_key, component, purpose, request, text, outcome, finish_reason, tokens.., latency_s,
        error, error_kind, attempts, created)          every model call (target, translator, judge)
  generations(probe_key, target, cache_key, text, decoded, outcome, finish_reason, tokens..,
        latency_s, error, error_kind, attempts, cached, created)
  verdicts(probe_key, target, judge, label, score, rationale, error, extra, created)
  components(kind, name, config)         targets/judges/transforms with identity and params (no secrets)
"""
from __future__ import annotations

import collections
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from .types import ERROR, Generation, Probe, Sample, Verdict

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS samples(
  sample_key TEXT PRIMARY KEY, dataset TEXT, item_id TEXT, language TEXT, category TEXT,
  prompt TEXT, meta TEXT);
CREATE TABLE IF NOT EXISTS probes(
  probe_key TEXT PRIMARY KEY, sample_key TEXT, language TEXT, transform TEXT, chain TEXT,
  messages TEXT, meta TEXT);
CREATE TABLE IF NOT EXISTS calls(
  cache_key TEXT PRIMARY KEY, component TEXT, purpose TEXT, request TEXT, text TEXT, outcome TEXT,
  finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL, error TEXT,
  error_kind TEXT, attempts INTEGER, created REAL);
CREATE TABLE IF NOT EXISTS generations(
  probe_key TEXT, target TEXT, cache_key TEXT, text TEXT, decoded TEXT, outcome TEXT,
  finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL, error TEXT,
  error_kind TEXT, attempts INTEGER, cached INTEGER, created REAL, PRIMARY KEY(probe_key, target));
CREATE TABLE IF NOT EXISTS verdicts(
  probe_key TEXT, target TEXT, judge TEXT, label TEXT, score REAL, rationale TEXT, error TEXT,
  extra TEXT, created REAL, PRIMARY KEY(probe_key, target, judge));
CREATE TABLE IF NOT EXISTS components(kind TEXT, name TEXT, config TEXT, PRIMARY KEY(kind, name));
"""

_SQL = {
    "sample": "INSERT OR IGNORE INTO samples VALUES (?,?,?,?,?,?,?)",
    "probe": "INSERT OR IGNORE INTO probes VALUES (?,?,?,?,?,?,?)",
    "call": "INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "generation": "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "verdict": "INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?,?)",
    "component": "INSERT OR REPLACE INTO components VALUES (?,?,?)",
    "meta": "INSERT OR REPLACE INTO meta VALUES (?,?)",
}


def _j(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, check_same_thread=False)
    else:
        con = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA busy_timeout=30000")
    return con


class Store:
    """A run's SQLite store. Use `write_*` from any coroutine (non-blocking, batched); call `close()`
    (or use as a context manager) to flush. Reads see only flushed rows; call `flush()` first."""

    def __init__(self, path: str | Path, batch_size: int = 500, flush_interval: float = 0.2):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._read = connect(self.path)
        self._read.executescript(SCHEMA)
        row = self._read.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._read.execute(_SQL["meta"], ("schema_version", str(SCHEMA_VERSION)))
            self._read.execute(_SQL["meta"], ("created", str(time.time())))
            self._read.commit()
        elif int(row[0]) != SCHEMA_VERSION:
            from .errors import UsageError
            raise UsageError(f"{self.path} has store schema v{row[0]}; this babelsafe reads v{SCHEMA_VERSION}.")
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
        order = ("meta", "component", "sample", "probe", "call", "generation", "verdict")
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
                                con.executemany(_SQL[kind], rows)
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
        self._put("sample", (s.key, s.dataset, s.id, s.language, s.category, s.prompt, _j(s.meta)))

    def write_probe(self, p: Probe) -> None:
        self._put("probe", (p.key, p.sample.key, p.language, p.transform, _j(p.chain), _j(p.messages),
                            _j(p.meta)))

    def write_call(self, cache_key: str, component: str, purpose: str, request: dict[str, Any],
                   g: Generation) -> None:
        self._put("call", (cache_key, component, purpose, _j(request), g.text, g.outcome, g.finish_reason,
                           g.prompt_tokens, g.completion_tokens, g.latency_s, g.error, g.error_kind,
                           g.attempts, time.time()))

    def write_generation(self, probe_key: str, target: str, cache_key: str, g: Generation) -> None:
        self._put("generation", (probe_key, target, cache_key, g.text, g.decoded, g.outcome, g.finish_reason,
                                 g.prompt_tokens, g.completion_tokens, g.latency_s, g.error, g.error_kind,
                                 g.attempts, int(g.cached), time.time()))

    def write_verdict(self, probe_key: str, target: str, v: Verdict) -> None:
        self._put("verdict", (probe_key, target, v.judge, v.label, v.score, v.rationale, v.error,
                              _j(v.extra), time.time()))

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

    def meta(self) -> dict[str, str]:
        return dict(self._read.execute("SELECT key, value FROM meta"))

    def query(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        return self._read.execute(sql, params)
