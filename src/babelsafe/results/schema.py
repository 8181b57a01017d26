"""The store's schema: tables, version, connections, and the upgrade of older stores.

Tables
  meta(key, value)                      schema_version, spec, babelsafe version, timestamps
  samples(sample_key, dataset, item_id, language, category, prompt, meta, label)
        label: the prompt's label from the dataset (e.g. 'benign'; NULL = harmful by default)
  probes(probe_key, sample_key, language, transform, chain, messages, meta, pair_id, pair_role)
        pair_id / pair_role: paired variants of one prompt (PCJailbreak: role privileged|marginalised)
  calls(cache_key, component, purpose, request, text, outcome, finish_reason, tokens.., latency_s,
        error, error_kind, attempts, created)          every model call (target, translator, judge)
  generations(probe_key, target, cache_key, text, decoded, outcome, finish_reason, tokens..,
        latency_s, error, error_kind, attempts, cached, created)
  verdicts(probe_key, target, judge, label, score, rationale, error, extra, created)
  components(kind, name, config)         targets/judges/transforms with identity and params (no secrets)
  datasets(name, taxonomy)               what each dataset declares (its category taxonomy)

Version 2 turned the meta keys metrics relied on (samples.meta.label, probes.meta.pc_group/pc_pair)
into columns and added `datasets`. Version-1 stores are upgraded in place when opened for writing
(`upgrade`) and read as they are by the readers (`Columns`).
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS samples(
  sample_key TEXT PRIMARY KEY, dataset TEXT, item_id TEXT, language TEXT, category TEXT,
  prompt TEXT, meta TEXT, label TEXT);
CREATE TABLE IF NOT EXISTS probes(
  probe_key TEXT PRIMARY KEY, sample_key TEXT, language TEXT, transform TEXT, chain TEXT,
  messages TEXT, meta TEXT, pair_id TEXT, pair_role TEXT);
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
CREATE TABLE IF NOT EXISTS datasets(name TEXT PRIMARY KEY, taxonomy TEXT);
"""

# v1 -> v2: the columns are filled from the JSON they used to be read from.
_UPGRADE_1_2 = """
ALTER TABLE samples ADD COLUMN label TEXT;
ALTER TABLE probes ADD COLUMN pair_id TEXT;
ALTER TABLE probes ADD COLUMN pair_role TEXT;
UPDATE samples SET label = CASE WHEN json_valid(meta) THEN json_extract(meta, '$.label') END;
UPDATE probes SET pair_id = CASE WHEN json_valid(meta) THEN json_extract(meta, '$.pc_pair') END,
                  pair_role = CASE WHEN json_valid(meta) THEN json_extract(meta, '$.pc_group') END;
CREATE TABLE IF NOT EXISTS datasets(name TEXT PRIMARY KEY, taxonomy TEXT);
UPDATE meta SET value = '2' WHERE key = 'schema_version';
"""


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, check_same_thread=False)
    else:
        con = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA busy_timeout=30000")
    return con


def store_version(con: sqlite3.Connection, path: str | Path) -> int:
    """The schema version of an opened store; a clear error for stores this code cannot read."""
    try:
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.DatabaseError as e:
        raise UsageError(f"{path} is not a babelsafe store ({e}). Point at a run dir made by "
                         "`babelsafe run`.") from e
    version = int(row[0]) if row else SCHEMA_VERSION
    if version not in READABLE_VERSIONS:
        raise UsageError(f"{path} has store schema v{version}; this babelsafe reads v"
                         f"{', v'.join(map(str, READABLE_VERSIONS))}. Upgrade babelsafe to read it.")
    return version


def upgrade(con: sqlite3.Connection, version: int, path: str | Path) -> None:
    """Bring a writable store to SCHEMA_VERSION (one transaction; nothing is lost on failure)."""
    if version == 1:
        log.info("upgrading %s from store schema v1 to v2", path)
        con.executescript("BEGIN;" + _UPGRADE_1_2 + "COMMIT;")


@dataclass(frozen=True, slots=True)
class Columns:
    """SQL expressions for the v2 columns, valid on the store's own version (aliases s = samples,
    p = probes). A v1 store opened read-only is read through its JSON instead."""

    prompt_label: str
    pair_id: str
    pair_role: str
    has_datasets: bool

    @classmethod
    def for_version(cls, version: int) -> "Columns":
        if version >= 2:
            return cls("s.label", "p.pair_id", "p.pair_role", True)
        return cls("CASE WHEN json_valid(s.meta) THEN json_extract(s.meta, '$.label') END",
                   "CASE WHEN json_valid(p.meta) THEN json_extract(p.meta, '$.pc_pair') END",
                   "CASE WHEN json_valid(p.meta) THEN json_extract(p.meta, '$.pc_group') END", False)


def store_path(run: str | Path) -> Path:
    """results.sqlite of a run dir (or the path itself when it is a file); a clear error when absent."""
    p = Path(run)
    db = p / "results.sqlite" if p.is_dir() else p
    if not db.is_file():
        raise UsageError(f"{run} is not a babelsafe run directory (no results.sqlite). "
                         "Run `babelsafe run ... --out DIR` first.")
    return db
