"""The refusal judge's optional C text scans (_textscan.c): which path runs, and what they need.

setup.py compiles `_textscan.c` beside the mypyc modules when a C compiler and zlib's headers are
there; answer_text and lexicon_index then call its functions instead of their Python versions (the
same results: tests compare the two on every real answer and on fuzz). The Python code runs when

- BABELSAFE_PURE_PYTHON=1 is set (as for the mypyc modules, babelsafe/_accel.py),
- the module is not built, or `_textscan.c` changed after the build (its hash is compiled in), or
- the module's zlib is not the one Python's zlib module runs (degenerate() compares compressed sizes).
"""
from __future__ import annotations

import hashlib
import logging
import os
import zlib
from array import array
from collections import Counter
from functools import lru_cache
from itertools import accumulate, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_textscan.c")


def _load() -> tuple[Any, str]:
    """(the C module or None, why)."""
    if os.environ.get("BABELSAFE_PURE_PYTHON", "") not in ("", "0"):
        return None, "Python (BABELSAFE_PURE_PYTHON is set)"
    try:
        from . import _textscan as mod  # type: ignore[attr-defined]
    except ImportError:
        return None, "Python (C text scans not built)"
    try:
        if SOURCE.exists() and hashlib.sha256(SOURCE.read_bytes()).hexdigest() != mod.SOURCE_SHA256:
            return None, "Python (_textscan.c changed since it was built: `pip install -e .` rebuilds it)"
    except OSError as e:
        return None, f"Python ({e})"
    if mod.zlib_version() != zlib.ZLIB_RUNTIME_VERSION:
        return None, f"Python (C text scans run zlib {mod.zlib_version()}, Python {zlib.ZLIB_RUNTIME_VERSION})"
    mod.set_script_table_builder(script_table)
    return mod, "C"


@lru_cache(maxsize=1)
def script_table() -> bytes:
    """Code point (< 0x10000) -> the script letter babelsafe.text.script_profile counts it under, as a
    byte (0: not counted). No script range reaches past 0xFFFF."""
    from ..text import SCRIPT_NAME, _script_table

    out = bytearray(0x10000)
    for cp, code in _script_table().items():
        if code in SCRIPT_NAME and cp < 0x10000:
            out[cp] = ord(code)
    return bytes(out)


MAX_TRIGGER = 256  # _textscan.c collects at most this many triggers at one position


def trigger_trie(triggers: dict[str, int]) -> tuple[bytes, bytes, bytes] | None:
    """The tables C.scan_triggers walks for these triggers (trigger -> rank): nodes (3 int32 each: the
    rank of the trigger ending there or -1, first edge, edge count; node 0 the root), edges (2 int32
    each: code point, child; a node's edges sorted by code point) and a 65,536-bit filter of the first
    characters (code point & 0xFFFF). None when a trigger is too long for the C scan."""
    if any(len(t) > MAX_TRIGGER or not t for t in triggers) or array("i").itemsize != 4:
        return None
    # The trie's nodes are the triggers' distinct prefixes, numbered breadth first with each node's
    # children in code-point order: that is the prefixes sorted by length, then as strings (str order is
    # code-point order). So a node's children are consecutive nodes and edge e leads to node e + 1.
    # Built that way with C-level map/sort calls (start-up builds one trie per script group, ~150,000
    # nodes in all): same tables as walking nested dicts (test_judges_textscan.py compares them).
    # The prefixes of each length k: the triggers of length k and the prefixes of length k + 1 cut by one
    # character (each distinct prefix is made once, and each length sorted on its own).
    by_len: dict[int, list[str]] = {}
    for t in triggers:
        by_len.setdefault(len(t), []).append(t)
    levels: list[list[str]] = []
    level: set[str] = set()
    for k in range(max(by_len, default=0), 0, -1):
        level = {t[:-1] for t in level}
        level.update(by_len.get(k, ()))
        levels.append(sorted(level))
    order = [""]
    for same_length in reversed(levels):
        order += same_length
    n = len(order)
    node_id = dict(zip(order, range(n)))
    parents = list(map(node_id.__getitem__, map(itemgetter(slice(None, -1)), order[1:])))  # edge e's parent
    per = Counter(parents)
    count = list(map(per.get, range(n), repeat(0)))
    nodes = array("i", bytes(12 * n))
    nodes[0::3] = array("i", map(triggers.get, order, repeat(-1)))  # "" is no trigger: the root has -1
    nodes[1::3] = array("i", accumulate(count, initial=0))[:-1]  # first edge: the edges of the nodes before
    nodes[2::3] = array("i", count)
    edges = array("i", bytes(8 * (n - 1)))
    edges[0::2] = array("i", map(ord, map(itemgetter(-1), order[1:])))
    edges[1::2] = array("i", range(1, n))
    bloom = bytearray(8192)
    for ch in {t[0] for t in triggers}:
        b = ord(ch) & 0xFFFF
        bloom[b >> 3] |= 1 << (b & 7)
    return nodes.tobytes(), edges.tobytes(), bytes(bloom)


C, STATUS = _load()
