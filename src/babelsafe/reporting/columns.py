"""The columns of results.csv / results.parquet, in the order RunReader.export_query selects them; the
report's example records read the same rows."""
from __future__ import annotations

BASE_COLS = ["dataset", "item_id", "sample_language", "language", "tier", "category", "prompt_label",
             "transform", "target", "outcome", "finish_reason", "error_kind", "prompt_tokens", "completion_tokens",
             "latency_s", "cached", "prompt", "probe_prompt", "response", "decoded", "probe_key"]
C = {c: i for i, c in enumerate(BASE_COLS)}  # column name -> index in an export row


def _safe_name(judge: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in judge)


def export_columns(judges: list[str]) -> list[str]:
    """BASE_COLS, then a label and a score column per judge (the rows' remaining values, in that order)."""
    cols = BASE_COLS[:]
    for j in judges:
        cols += [f"label_{_safe_name(j)}", f"score_{_safe_name(j)}"]
    return cols
