"""The summary's share of the one read of the store (exports.summarize_and_export): its cell counts,
repeated requests and per-prompt classes, taken from the export rows as they were fetched (UTF-8
bytes or str), without turning each row into the summary's label rows first.

The counts are a Counter over raw column tuples (C speed); the values are decoded and the label
rows' fields derived (label from outcome and verdict, lower-cased prompt label) once per distinct
key at the end. The result is handed to the summary's pass (`_Pass.absorb`) exactly as if it had
been fed the label rows: same keys, same first-seen order, same per-prompt classes.
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..labels import is_benign_prompt, verdict_class
from ..metrics.tally import attack_of
from ..results.readers import ExportQuery, RunReader
from .columns import BASE_COLS, C

if TYPE_CHECKING:
    from ..metrics.summary import SummaryPass

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
    and the hash); `close(acc)` hands the counts to the SummaryPass. `multi`: the run has several
    languages (the per-prompt classes are kept only then)."""

    def __init__(self, judges: list[str], multi: bool):
        nb = len(BASE_COLS)
        # (judge name, column of its label); a run without verdicts has one judge, None, no column
        self.judges: list[tuple[str | None, int | None]] = [(j, nb + 2 * i) for i, j in enumerate(judges)] or \
            [(None, None)]
        self.cell = itemgetter(C["target"], C["language"], C["category"], C["transform"], C["dataset"],
                               C["prompt_label"], C["outcome"], *(c for _, c in self.judges if c is not None))
        self.counts: Counter[tuple] = Counter()
        self.requests: dict[Any, set] = {}  # raw target -> its requests (cache keys)
        self.n_rows = 0
        self.n_unsent = 0
        self.multi = multi
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

    def state(self) -> tuple:
        """What a helper process sends back for its part of the rows (picklable)."""
        return self.counts, self.requests, self.n_rows, self.n_unsent, self.firsts

    def merge(self, state: tuple) -> None:
        """Add the state of the rows that come after this pass's (a helper's part): the same counts,
        first-seen order and per-prompt classes as one pass over both."""
        counts, requests, n_rows, n_unsent, firsts = state
        self.counts.update(counts)
        for t, reqs in requests.items():
            self.requests.setdefault(t, set()).update(reqs)
        self.n_rows += n_rows
        self.n_unsent += n_unsent
        for key, d in firsts.items():
            mine = self.firsts.get(key)
            if mine is None:
                self.firsts[key] = d
                continue
            for lang, v in d.items():
                prev = mine.get(lang)
                if prev is None or v[:2] < prev[:2]:
                    mine[lang] = v

    def close(self, acc: SummaryPass) -> None:
        """Decode the distinct keys (first-seen order kept) into the summary pass's counts and classes."""
        t, pl, one = self.text, self.plabel, acc.one
        counts: Counter[tuple] = Counter()
        judges = self.judges
        nj = sum(1 for _, c in judges if c is not None)
        for raw, k in self.counts.items():
            target, lang, cat, tr, ds = t[raw[0]], t[raw[1]], t[raw[2]], t[raw[3]], t[raw[4]]
            plab = pl[raw[5]]
            for i, (j, _c) in enumerate(judges):
                label = self._label(raw[6], raw[7 + i] if nj else None)
                counts[(target, j, lang, cat, tr, ds, plab, label)] += k
            acc.tier(lang)
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


# -- the one read on two cores ------------------------------------------------------------------
SPLIT_MIN_ROWS = 50_000  # below this, starting a helper costs more than it saves
PARENT_SHARE = 0.6  # of the rows read by this process: the helper starts (imports pyarrow) meanwhile


def split_at(workers: int | None, lo: int, hi: int, batch: int) -> int | None:
    """The rowid where a helper process's part of the one read starts (None: one process reads all).
    At a multiple of `batch` rows from the start, so the Parquet row groups fall where one reader's
    would. At most one helper: the machine this was tuned on has 2 cores. By default (workers None)
    only when a core is idle: the 1-minute load average, which counts this process (busy all run long
    at the end of `babelsafe run`), below cores - 0.5. On a busy machine the helper's start-up (~0.5 s
    of CPU) would only add to the load, and the wall time would not drop (measured at load 4-8)."""
    from .exports import _has_pyarrow

    if workers is None:
        cpus = os.cpu_count() or 1
        workers = 2 if cpus >= 2 and _load() < cpus - 0.5 else 1
    n = hi - lo + 1
    if workers < 2 or n < SPLIT_MIN_ROWS or not _has_pyarrow():
        return None
    k = max(batch, round(n * PARENT_SHARE / batch) * batch)
    return lo + k if k < n else None


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        return 0.0


class HelperPart:
    """A helper process (`python -m babelsafe.reporting.onepass JOB`) that reads the generations with
    rowid in [lo, hi]: it builds their Arrow batches into an IPC file, draws their examples and counts
    them for the summary (ExportRowsPass.state). `batches()` waits for it and yields its batches, for
    the parent's CSV and Parquet writers; then `heaps` and `state` hold its sample and counts."""

    def __init__(self, store: Path, query: ExportQuery, cols: list[str], judges: list[str], multi: bool,
                 most: int, lo: int, hi: int, batch: int, work_in: Path):
        self.work = Path(tempfile.mkdtemp(prefix=".onepass-", dir=work_in))
        self.ipc = self.work / "part.arrow"
        self.out = self.work / "part.out"
        job = self.work / "part.job"
        job.write_bytes(pickle.dumps({
            "store": str(store), "query": tuple(query), "cols": cols, "judges": judges, "multi": multi,
            "most": most, "lo": lo, "hi": hi, "batch": batch, "ipc": str(self.ipc), "out": str(self.out)}))
        self.proc = subprocess.Popen([sys.executable, "-m", "babelsafe.reporting.onepass", str(job)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.heaps: list = []
        self.state: tuple | None = None

    def batches(self) -> Iterator[Any]:
        import pyarrow as pa

        _, err = self.proc.communicate()
        if self.proc.returncode != 0:
            raise RuntimeError(f"the report's export helper failed (exit {self.proc.returncode}): "
                               f"{err.decode(errors='replace')[-2000:]}")
        n, self.heaps, self.state = pickle.loads(self.out.read_bytes())
        if n:
            with pa.memory_map(str(self.ipc)) as f:  # the batches keep the mapping alive while queued
                reader = pa.ipc.open_file(f)
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i)

    def __enter__(self) -> "HelperPart":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        shutil.rmtree(self.work, ignore_errors=True)


def _helper_main(job_path: str) -> None:
    from .exports import ExampleSampler, _write

    job = pickle.loads(Path(job_path).read_bytes())
    sampler = ExampleSampler(quota=1 << 30, most=job["most"])
    rows_pass = ExportRowsPass(job["judges"], job["multi"])

    def tee(batches: Iterator[list[tuple]]) -> Iterator[list[tuple]]:
        for rows in batches:
            rows_pass.feed(rows)
            yield rows

    with RunReader(job["store"]) as reader:
        batches = reader.export_batches(ExportQuery(*job["query"]), job["lo"], job["hi"], raw_text=True,
                                        size=job["batch"])
        n = _write(tee(batches), job["cols"], sampler, None, Path(job["ipc"]), False, job["hi"] - job["lo"] + 1)
    Path(job["out"]).write_bytes(pickle.dumps((n, list(sampler.heaps.items()), rows_pass.state()),
                                              protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":  # helper process of HelperPart
    _helper_main(sys.argv[1])
