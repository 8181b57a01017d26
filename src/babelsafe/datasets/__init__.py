"""Datasets: shipped prompt sets and generic file / Hugging Face loaders.

`resolve(name, options)` turns a DatasetSpec name into a Dataset:
  - a registry name (`multijail`, `xsafety`, ...)
  - a path to a CSV / TSV / JSONL / JSON / Parquet file (optionally .gz) with a `prompt` column
  - `hf:ORG/NAME[:split]` for a Hugging Face dataset (needs the `hf` extra)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from .base import Dataset

__all__ = ["Dataset", "resolve"]


def resolve(name: str, options: dict[str, Any] | None = None) -> Dataset:
    """The Dataset for a spec name; a UsageError listing valid names otherwise."""
    from ..registry import registry
    from .files import FileDataset, file_format

    options = dict(options or {})
    name = name.strip()
    reg = registry("dataset")
    if name in reg.entries:
        return reg.build(name, options)  # options checked like every component's
    if name.startswith("hf:"):
        from .hf import HFDataset
        return HFDataset(name[3:], **options)
    path = Path(name).expanduser()
    if path.is_file():
        return FileDataset(path, **options)
    if path.is_dir():
        raise UsageError(f"Dataset path '{name}' is a directory; give a file (CSV, TSV, JSONL, JSON or Parquet).")
    if file_format(name) is not None or "/" in name or "\\" in name:
        raise UsageError(f"Dataset file not found: '{name}' (looked in {Path.cwd()}).")
    from difflib import get_close_matches
    close = get_close_matches(name, reg.names(), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UsageError(
        f"Unknown dataset '{name}'.{hint} Valid datasets: {', '.join(reg.names())}. "
        f"Or give a path to a CSV/TSV/JSONL/JSON/Parquet file with a 'prompt' column (optional: id, "
        f"language, category, label), or hf:ORG/NAME[:split] for a Hugging Face dataset."
    )
