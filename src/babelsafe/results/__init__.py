"""A run's results: the SQLite store (the writer the runner uses), typed read-only readers (the only
other place that knows the schema), and summary.json."""
from __future__ import annotations

from .readers import RunReader
from .schema import SCHEMA, SCHEMA_VERSION, connect, store_path
from .store import Store
from .summary_file import read_summary, write_summary

__all__ = ["Store", "RunReader", "SCHEMA", "SCHEMA_VERSION", "connect", "store_path", "read_summary",
           "write_summary"]
