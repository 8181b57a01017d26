"""The summary's share of the one read of the store (exports.summarize_and_export): its cell counts,
repeated requests and per-prompt classes, taken from the export rows as they were fetched (UTF-8
bytes or str), without turning each row into the summary's label rows first.

The counts are a Counter over raw column tuples (C speed); the values are decoded and the label
rows' fields derived (label from outcome and verdict, lower-cased prompt label) once per distinct
key at the end. The result is handed to the summary's pass (`_Pass.absorb`) exactly as if it had
been fed the label rows: same keys, same first-seen order, same per-prompt classes.
"""
from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import Any

from ..labels import is_benign_prompt, verdict_class
from ..metrics.summary import SummaryPass
from ..metrics.tally import attack_of
from .columns import BASE_COLS, C

_FAILED = ("error", "content_filter")


def _text(x: Any) -> Any:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else x


class _Texts(dict):
    """Memo of stored values as the summary reads them: UTF-8 bytes decoded, other values as they are."""

    def __missing__(self, x: Any) -> Any:
        v = self[x] = _text(x)
        return v


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


class _PromptLabels(dict):
    """Memo of SQLite's lower(coalesce(label, '')) (ASCII-only lower case, as SQLite's lower())."""

    def __missing__(self, x: Any) -> str:
        if x is None:
            v = ""
        elif isinstance(x, bytes):
            v = x.lower().decode("utf-8", "replace")
        else:
            v = str(x).translate(_ASCII_LOWER)
        self[x] = v
        return v


class ExportRowsPass:
    """Feed it the export rows (columns.export_columns(judges), then the request, the primary label
    and the hash); `close()` hands the counts to the SummaryPass."""

    def __init__(self, acc: SummaryPass, judges: list[str]):
        nb = len(BASE_COLS)
        self.acc = acc
        # (judge name, column of its label); a run without verdicts has one judge, None, no column
        self.judges: list[tuple[str | None, int | None]] = [(j, nb + 2 * i) for i, j in enumerate(judges)] or \
            [(None, None)]
        self.cell = itemgetter(C["target"], C["language"], C["category"], C["transform"], C["dataset"],
                               C["prompt_label"], C["outcome"], *(c for _, c in self.judges if c is not None))
        self.counts: Counter[tuple] = Counter()
        self.requests: dict[Any, set] = {}  # raw target -> its requests (cache keys)
        self.n_rows = 0
        self.n_unsent = 0
        self.multi = acc.one.multi_lang
        self.text, self.plabel = _Texts(), _PromptLabels()
        self._benign: dict[Any, bool] = {}  # raw prompt label -> benign?
        self._cls: dict[tuple, str | None] = {}  # (raw outcome, raw verdict label) -> class on a harmful prompt
        self._attack: dict[Any, str] = {}  # raw transform -> attack
        # (raw target, judge, raw dataset, raw item_id, attack) -> language -> (raw transform, probe key, class)
        self.firsts: dict[tuple, dict[Any, tuple]] = {}

    def feed(self, rows: list[tuple]) -> None:
        self.counts.update(map(self.cell, rows))
        req = list(map(itemgetter(-3), rows))  # coalesce(cache_key, ''): '' when never sent
        self.n_rows += len(req)
        self.n_unsent += req.count(b"") + req.count("")
        targets = list(map(itemgetter(C["target"]), rows))
        if targets and targets.count(targets[0]) == len(targets):  # one target: no per-row work
            self.requests.setdefault(targets[0], set()).update(req)
        else:
            for t, rq in zip(targets, req):
                s = self.requests.get(t)
                if s is None:
                    s = self.requests[t] = set()
                s.add(rq)
        if self.multi:
            self._items(rows)

    def _items(self, rows: list[tuple]) -> None:
        """Each prompt's class per (attack, language), from the row with the smallest (transform,
        probe key): as summary._Pass._items, on raw values."""
        benign, cls_of, attacks, firsts, plabel, text = (self._benign, self._cls, self._attack, self.firsts,
                                                         self.plabel, self.text)
        pl, oc, tg, ds, it, lg, trc, pk = (C["prompt_label"], C["outcome"], C["target"], C["dataset"],
                                           C["item_id"], C["language"], C["transform"], C["probe_key"])
        judges = self.judges
        for r in rows:
            b = benign.get(r[pl])
            if b is None:
                b = benign[r[pl]] = is_benign_prompt(plabel[r[pl]])
            if b:
                continue
            o = r[oc]
            for j, jc in judges:
                ck = (o, r[jc] if jc is not None else None)
                cls = cls_of.get(ck, 0)
                if cls == 0:
                    cls = cls_of[ck] = verdict_class(self._label(o, ck[1]), True)
                if cls is None:
                    continue
                tr = r[trc]
                attack = attacks.get(tr)
                if attack is None:
                    attack = attacks[tr] = attack_of(_text(tr) or "")
                key = (r[tg], j, r[ds], r[it], attack)
                d = firsts.get(key)
                if d is None:
                    d = firsts[key] = {}
                lang = text[r[lg]]
                prev = d.get(lang)
                if tr is None:
                    tr = b"" if isinstance(r[pk], bytes) else ""
                # UTF-8 bytes order as str does (code point order), so raw values compare as decoded ones
                if prev is None or tr < prev[0] or (tr == prev[0] and r[pk] < prev[1]):
                    d[lang] = (tr, r[pk], cls)

    def _label(self, outcome: Any, verdict: Any) -> str:
        o = self.text[outcome]
        if o in _FAILED:
            return o
        return "unjudged" if verdict is None else self.text[verdict]

    def close(self) -> None:
        """Decode the distinct keys (first-seen order kept) into the summary pass's counts and classes."""
        t, pl, one = self.text, self.plabel, self.acc.one
        counts: Counter[tuple] = Counter()
        judges = self.judges
        nj = sum(1 for _, c in judges if c is not None)
        for raw, k in self.counts.items():
            target, lang, cat, tr, ds = t[raw[0]], t[raw[1]], t[raw[2]], t[raw[3]], t[raw[4]]
            plab = pl[raw[5]]
            for i, (j, _c) in enumerate(judges):
                label = self._label(raw[6], raw[7 + i] if nj else None)
                counts[(target, j, lang, cat, tr, ds, plab, label)] += k
            self.acc.tier(lang)
        firsts: dict[tuple, dict[str, tuple]] = {}
        for (target, j, ds, item, attack), d in self.firsts.items():
            key = (t[target], j, t[ds], item, attack)
            dd = firsts.get(key)
            if dd is None:
                firsts[key] = d
            else:  # two raw keys that decode alike (invalid UTF-8): keep the smaller row, as one key would
                for lang, v in d.items():
                    prev = dd.get(lang)
                    if prev is None or v[:2] < prev[:2]:
                        dd[lang] = v
        sent = self.n_rows - self.n_unsent
        distinct = sum(len(s) - (b"" in s) - ("" in s) for s in self.requests.values())
        one.absorb(counts, firsts, distinct < sent)
        self.counts, self.firsts, self.requests = Counter(), {}, {}
