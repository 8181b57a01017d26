"""summary.json: the one place it is written and read."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"


def write_summary(run_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write run_dir/summary.json atomically (a reader never sees half a file); return its path."""
    path = Path(run_dir) / SUMMARY
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """run_dir/summary.json, or None when it is absent, unreadable, or from before the full layout
    (no "breakdown"): then the caller recomputes it from the store."""
    path = Path(run_dir) / SUMMARY
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if not isinstance(summary, dict) or "breakdown" not in summary:
        return None
    return summary
