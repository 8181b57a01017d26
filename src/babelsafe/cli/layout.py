"""Fitting tables to the terminal: split wide tables into stacked ones, or show records one below another.

Two shapes, both never cut a header or break a word:
- `fit_tables`: numeric tables (calibrate, compare): one table when it fits, else several stacked, each
  repeating the key column(s).
- `fit_records`: text listings (`babelsafe list`): a table whose cells wrap between words when that fits,
  else one block per record ("name" then indented "field  value" lines).
"""
from __future__ import annotations

from typing import Any, Collection, Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def _width(console: Console, table: Table, maximum: bool = True) -> int:
    m = Measurement.get(console, console.options.update(width=10_000), table)
    return m.maximum if maximum else m.minimum


def _table(title: str | None, headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int],
           caption: str | None = None, rules: Collection[int] = ()) -> Table:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
              caption=caption, caption_justify="left", show_edge=False)
    for i, h in enumerate(headers):
        t.add_column(h, justify="right" if i in right else "left", no_wrap=True)
    for n, r in enumerate(rows):
        t.add_row(*r, end_section=n in rules)
    return t


def fit_tables(console: Console, title: str | None, headers: Sequence[str], rows: Sequence[Sequence[str]],
               keys: int = 1, right: set[int] | None = None, caption: str | None = None,
               rules: Collection[int] = ()) -> RenderableType:
    """`rows` as one table when it fits the console's width, else as several tables stacked, each with
    the first `keys` columns plus as many of the others as fit (in order). `right`: right-aligned column
    indices (default: all but the keys); `rules`: row indices with a rule under them."""
    right = set(range(keys, len(headers))) if right is None else right
    whole = _table(title, headers, rows, right, caption, rules)
    if _width(console, whole) <= console.width:
        return whole
    groups: list[list[int]] = []
    current: list[int] = []
    for i in range(keys, len(headers)):
        trial = current + [i]
        cols = list(range(keys)) + trial
        t = _table(None, [headers[c] for c in cols], [[r[c] for c in cols] for r in rows[:50]],
                   {n for n, c in enumerate(cols) if c in right})
        if current and _width(console, t) > console.width:
            groups.append(current)
            current = [i]
        else:
            current = trial
    if current:
        groups.append(current)
    parts: list[RenderableType] = []
    for n, g in enumerate(groups):
        cols = list(range(keys)) + g
        parts.append(_table(title if n == 0 else None, [headers[c] for c in cols], [[r[c] for c in cols] for r in rows],
                            {k for k, c in enumerate(cols) if c in right}, None, rules))
    if caption:  # under the stack at the console's width (in the last, often narrow, table it wrapped to a column)
        parts.append(Text(caption, style="table.caption", justify="left"))
    return Group(*parts)


def fit_records(console: Console, title: str | None, records: Sequence[dict[str, str]], fields: Sequence[str],
                key: str = "name", right: Collection[str] = ()) -> RenderableType:
    """Records as a table whose cells wrap between words, when that fits the console; else stacked: the
    key on its own line, then one indented `field  value` line per non-empty field."""
    headers = [key, *fields]
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
              show_edge=False)
    t.add_column(key, no_wrap=True)
    for f in fields:
        t.add_column(f, justify="right" if f in right else "left", overflow="fold")  # no "…": fold long words
    for r in records:
        t.add_row(*(r.get(h, "") for h in headers))
    # each column needs its longest word; text columns that must wrap get a few cells more to stay readable
    need = _width(console, t, maximum=False)
    text_cols = [f for f in fields if any(len(r.get(f, "")) > 12 for r in records)]
    if need + 6 * len(text_cols) <= console.width or _width(console, t) <= console.width:
        return t
    label_w = max(len(f) for f in fields) + 2
    blocks: list[RenderableType] = [Text(title, style="italic")] if title else []
    for r in records:
        blocks.append(Text(r.get(key, ""), style="bold"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=label_w, no_wrap=True)
        grid.add_column()
        for f in fields:
            if r.get(f):
                grid.add_row("  " + f, r[f])
        blocks.append(grid)
    return Group(*blocks)


def cell(value: Any, limit: int | None = None) -> str:
    """A value as table text: lists joined with ', ' (the first `limit` and a count of the rest)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        value = list(value)
    if isinstance(value, (list, tuple, set)):
        items = [str(v) for v in value]
        if limit is not None and len(items) > limit:
            return ", ".join(items[:limit]) + f" +{len(items) - limit}"
        return ", ".join(items)
    return str(value)
