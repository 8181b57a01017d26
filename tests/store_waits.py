"""Waiting on a run that another process is writing (crash-safety tests): poll a store's row count."""
from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path


def wait_for_rows(db: Path, table: str, minimum: int, proc: subprocess.Popen, limit_s: float = 60) -> None:
    """Return once `table` in the SQLite file `db` holds `minimum` rows, `proc` exits, or `limit_s` pass."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                con = sqlite3.connect(db)
                n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                con.close()
                if n >= minimum:
                    return
            except sqlite3.OperationalError:  # the writer has not created the table yet
                pass
        time.sleep(0.05)
