"""results.csv / results.parquet: one row per (probe, target) with every judge's label, written by
streaming the store in batches (bounded memory at any size). The same pass draws the report's
stratified examples sample, so a run is read once for both.
"""
from __future__ import annotations

import csv
import heapq
import logging
import os
import pickle
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from itertools import repeat
from operator import is_not, itemgetter
from typing import Any, Callable, Iterable, Iterator, Sequence

from .. import languages as langs
from ..results.readers import ExportQuery, RunReader
from .columns import BASE_COLS, C, export_columns
from .examples import example_records

log = logging.getLogger(__name__)

BATCH = 10_000  # rows per fetch and per Parquet row group (50k: ~150 MiB more at the peak, no faster)


_INT_COLS = {"prompt_tokens", "completion_tokens", "cached"}
_SAMPLER_COLS = (C["language"], C["transform"], C["probe_key"])
_FLOAT_COLS = {"latency_s"}


@dataclass
class ExampleSampler:
    """Keeps, per stratum (language, primary label, transform), the `quota` rows with the smallest hash
    of their probe key: a deterministic, uniform, stratified sample drawn in one streaming pass.

    `most`: the quota is not known yet (it depends on the number of strata, which the summary computed
    in the same pass counts): keep max(5, most // strata seen so far) per stratum, an upper bound of the
    final quota that only shrinks, and `trim` to the final quota at the end (the same rows as a sampler
    built with it: each stratum's smallest hashes)."""

    quota: int
    heaps: dict[tuple, list] = field(default_factory=dict)
    most: int | None = None

    def offer(self, stratum: tuple, key: str, row: tuple, h: int | None = None) -> None:
        if h is None:
            h = zlib.crc32(key.encode())
        heap = self.heaps.setdefault(stratum, [])
        if len(heap) < self.quota:
            heapq.heappush(heap, (-h, key, row))
        elif -heap[0][0] > h:
            heapq.heapreplace(heap, (-h, key, row))

    def threshold(self, stratum: tuple) -> int:
        """Rows of this stratum with a hash >= this can no longer enter the sample."""
        heap = self.heaps.get(stratum)
        return -heap[0][0] if heap is not None and len(heap) >= self.quota else 1 << 62

    def trim(self, quota: int) -> None:
        """Keep each stratum's `quota` smallest hashes (quota <= the current one)."""
        self.quota = quota
        for heap in self.heaps.values():
            while len(heap) > quota:
                heapq.heappop(heap)

    def offer_batch(self, rows: list[tuple], lang: int, tr: int, pk: int) -> None:
        """Offer a batch of export rows (primary label at [-2], hash at [-1]; text may be UTF-8 bytes):
        only the rows that beat their stratum's threshold, at most `quota` per stratum, reach Python's
        heaps (a batch's first rows of a new stratum all beat it)."""
        cand: dict[tuple, list[tuple[int, int]]] = {}
        thr: dict[tuple, int] = {}
        get = thr.get
        for i, (raw, h) in enumerate(zip(map(itemgetter(lang, -2, tr), rows), map(itemgetter(-1), rows))):
            t = get(raw)
            if t is None:
                t = thr[raw] = self.threshold(tuple(_text(x) for x in raw))
            if h < t:
                c = cand.get(raw)
                if c is None:
                    cand[raw] = [(h, i)]
                else:
                    c.append((h, i))
        if self.most is not None:
            strata = set(self.heaps) | {tuple(_text(x) for x in raw) for raw in thr}
            q = max(5, self.most // max(1, len(strata)))
            if q < self.quota:
                self.trim(q)
        for c in cand.values():
            c.sort()
            for h, i in c[:self.quota]:
                r = _decoded(rows[i])
                self.offer((r[lang], r[-2], r[tr]), r[pk], r, h)

    def rows(self, limit: int) -> list[tuple]:
        """Round-robin across strata (each ordered by hash) up to `limit` rows."""
        lists = [sorted(v, key=lambda t: -t[0]) for _, v in sorted(self.heaps.items(), key=lambda kv: str(kv[0]))]
        out: list[tuple] = []
        i = 0
        while len(out) < limit and any(i < len(x) for x in lists):
            for x in lists:
                if i < len(x) and len(out) < limit:
                    out.append(x[i][2])
            i += 1
        return out


def _text(x: Any) -> Any:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else x


PARALLEL_MIN_ROWS = 200_000  # below this one process is faster than starting a helper


def export_results(store_path: str | Path, out_dir: str | Path, primary_judge: str | None = None,
                   max_examples: int = 2000, strata_hint: int = 60, tiers: dict[str, str] | None = None,
                   csv_name: str = "results.csv", parquet_name: str = "results.parquet",
                   workers: int | None = None) -> dict[str, Any]:
    """Write results.csv (+ results.parquet when pyarrow imports) and return
    {"csv": path, "parquet": path|None, "rows": n, "examples": [...], "judges": [...]}.

    `tiers`: language -> tier for the `tier` column (languages not in it get languages.tier()).
    `workers`: processes sharing the pass over large stores (default: 2 when there are >= 2 CPUs and
    >= 200k generations; each helper is a fresh `python -m babelsafe.reporting.exports` process)."""
    out_dir = Path(out_dir)
    store_path = Path(store_path)
    reader = RunReader(store_path)
    try:
        judges = reader.judges()
        if primary_judge not in judges:
            primary_judge = judges[0] if judges else None
        pj = judges.index(primary_judge) if primary_judge in judges else None
        tier_map = {code: (tiers or {}).get(code) or langs.tier(code) for code in reader.languages()
                    if code is not None}
        cols = export_columns(judges)
        quota = max(5, max_examples // max(1, strata_hint))
        query = reader.export_query(judges, tier_map, pj)
        lo, hi = reader.rowid_range()
        csv_path = out_dir / csv_name
        pq_path = out_dir / parquet_name
        tmp_csv = csv_path.with_name(csv_path.name + ".tmp")
        tmp_pq = pq_path.with_name(pq_path.name + ".tmp")
        workers = _workers(workers, lo, hi)
        if workers <= 1:
            n, heaps = _export_part(str(store_path), query, cols, quota, str(tmp_csv), str(tmp_pq), True)
        else:
            n, heaps = _export_parallel(store_path, query, cols, quota, tmp_csv, tmp_pq, lo, hi, workers)
        _publish(tmp_csv, csv_path, tmp_pq, pq_path)
        sampler = ExampleSampler(quota=quota)
        for stratum, items in heaps:
            for neg_h, key, row in items:
                sampler.offer(stratum, key, row, -neg_h)
        examples = example_records(reader, sampler.rows(max_examples), judges, primary_judge)
    finally:
        reader.close()
    return {"csv": csv_path, "parquet": pq_path if pq_path.exists() else None, "rows": n,
            "examples": examples, "judges": judges, "primary_judge": primary_judge}


def _workers(workers: int | None, lo: int | None, hi: int | None) -> int:
    """Export processes for a store whose generations have rowids lo..hi."""
    if workers is None:
        workers = 2 if (os.cpu_count() or 1) >= 2 else 1
    if lo is None or hi is None or hi - lo + 1 < PARALLEL_MIN_ROWS or not _has_pyarrow():
        workers = 1
    return workers


def n_strata(summary: dict[str, Any]) -> int:
    """Rough number of (language, label, transform) strata, to size the per-stratum examples quota."""
    n_lang = max(1, len(summary.get("by_language", {})))
    n_tr = max(1, len(summary.get("by_transform", {})))
    judge = summary.get("primary_judge")
    labels = (summary.get("judges", {}).get(judge, {}) or {}).get("labels", {}) if judge else {}
    return n_lang * n_tr * max(1, len(labels))


def summarize_and_export(store_path: str | Path, out_dir: str | Path, spec_tiers: dict[str, str] | None = None,
                         max_examples: int = 2000, workers: int | None = None, csv_name: str = "results.csv",
                         parquet_name: str = "results.parquet") -> tuple[dict[str, Any], dict[str, Any]] | None:
    """summary.json's content (metrics.summarize) and the exports (export_results' dict) from ONE read
    of the store: the summary counts the export rows as they stream by, instead of joining the same four
    tables again. From SPLIT_MIN_ROWS generations on (and `workers` != 1) a helper process reads the
    last rows of the store beside this one (onepass.HelperPart). None when the one read does not apply
    -- runs whose primary judge the summary can only pick after its pass (several judges, none in the
    spec) -- and the caller summarizes, then exports."""
    from ..metrics.summary import SummaryPass
    from .onepass import ExportRowsPass, HelperPart, split_at

    out_dir = Path(out_dir)
    store_path = Path(store_path)
    with RunReader(store_path) as reader:
        judges = reader.judges()
        primary = next((j for j in reader.spec_judges() if j in judges), None)
        lo, hi = reader.rowid_range()
        if (primary is None and len(judges) > 1) or lo is None or hi is None:
            return None
        if primary is None and judges:
            primary = judges[0]
        pj = judges.index(primary) if primary in judges else None
        acc = SummaryPass(reader, spec_tiers)
        prefetch = reader.prefetch()  # the summary's small queries, on another core during the read
        tier_map = {code: langs.tier(code, acc.tiers_over) or langs.tier(code) for code in reader.languages()
                    if code is not None}
        cols = export_columns(judges)
        query = reader.export_query(judges, tier_map, pj)
        csv_path, pq_path = out_dir / csv_name, out_dir / parquet_name
        tmp_csv = csv_path.with_name(csv_path.name + ".tmp")
        tmp_pq = pq_path.with_name(pq_path.name + ".tmp")
        sampler = ExampleSampler(quota=1 << 30, most=max_examples)  # the quota follows the strata seen
        rows_pass = ExportRowsPass(judges, acc.one.multi_lang)

        def tee(batches: Iterator[list[tuple]]) -> Iterator[list[tuple]]:
            for rows in batches:
                rows_pass.feed(rows)
                yield rows

        split = split_at(workers, lo, hi, BATCH)
        with RunReader(store_path) as rows_reader:  # its own connection: text comes as UTF-8 bytes
            if split is None:
                batches = rows_reader.export_batches(query, raw_text=_has_pyarrow(), size=BATCH)
                n = _write(tee(batches), cols, sampler, tmp_csv, tmp_pq, True, hi - lo + 1)
            else:  # a helper process reads the rows from `split` on while this one reads the first ones
                with HelperPart(store_path, query, cols, judges, acc.one.multi_lang, max_examples, split, hi,
                                BATCH, out_dir) as helper:
                    batches = rows_reader.export_batches(query, lo, split - 1, raw_text=True, size=BATCH)
                    n = _write(tee(batches), cols, sampler, tmp_csv, tmp_pq, True, split - lo,
                               then=helper.batches)
                    assert helper.state is not None
                    rows_pass.merge(helper.state)
                    for stratum, items in helper.heaps:
                        for neg_h, key, row in items:
                            sampler.offer(stratum, key, row, -neg_h)
        rows_pass.close(acc)
        summary = acc.summary()
        _publish(tmp_csv, csv_path, tmp_pq, pq_path)
        quota = max(5, max_examples // max(1, n_strata(summary)))
        if quota > sampler.quota:  # cannot happen: every stratum seen is one of the summary's
            log.warning("examples: %d strata seen but the summary counts fewer; the report keeps up to %d "
                        "examples per stratum instead of %d", len(sampler.heaps), sampler.quota, quota)
        else:
            sampler.trim(quota)
        examples = example_records(reader, sampler.rows(max_examples), judges, primary)
        prefetch.join()
    return summary, {"csv": csv_path, "parquet": pq_path if pq_path.exists() else None, "rows": n,
                     "examples": examples, "judges": judges, "primary_judge": primary}


def _publish(tmp_csv: Path, csv_path: Path, tmp_pq: Path, pq_path: Path) -> None:
    tmp_csv.replace(csv_path)
    if tmp_pq.exists():
        tmp_pq.replace(pq_path)
    elif pq_path.exists():
        pq_path.unlink()  # no pyarrow: never leave a stale parquet from an older run


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
        return True
    except ImportError:
        return False


def _export_part(store: str, query: ExportQuery, cols: list[str], quota: int, csv_path: str,
                 pq_path: str, header: bool, lo: int | None = None, hi: int | None = None
                 ) -> tuple[int, list[tuple[tuple, list]]]:
    """Export the generations with rowid in [lo, hi] (all when None); return (rows, sampler heaps)."""
    with RunReader(store) as reader:
        sampler = ExampleSampler(quota=quota)
        # with pyarrow: UTF-8 bytes straight into Arrow, no decode to str and re-encode (4x faster on
        # non-Latin text)
        a, b = (lo, hi) if lo is not None else reader.rowid_range()
        batches = reader.export_batches(query, lo, hi, raw_text=_has_pyarrow(), size=BATCH)
        n = _write(batches, cols, sampler, Path(csv_path), Path(pq_path), header,
                   None if a is None or b is None else b - a + 1)
    return n, list(sampler.heaps.items())


def _export_parallel(store: Path, query: ExportQuery, cols: list[str], quota: int, tmp_csv: Path,
                     tmp_pq: Path, lo: int, hi: int, workers: int) -> tuple[int, list]:
    """Split the rowid range: helpers (fresh interpreters) export parts 1.., this process part 0; then
    the parts are concatenated (CSV bytes; Parquet batch by batch)."""
    import pyarrow.parquet as pq

    step = (hi - lo + 1 + workers - 1) // workers
    ranges = [(lo + i * step, min(hi, lo + (i + 1) * step - 1)) for i in range(workers)]
    work = tempfile.mkdtemp(prefix=".export-", dir=tmp_csv.parent)
    procs = []
    try:
        for i, (a, b) in enumerate(ranges[1:], start=1):
            job = Path(work) / f"part{i}.job"
            job.write_bytes(pickle.dumps({
                "store": str(store), "query": tuple(query), "cols": cols, "quota": quota,
                "csv": str(Path(work) / f"part{i}.csv"), "pq": str(Path(work) / f"part{i}.parquet"),
                "lo": a, "hi": b, "out": str(Path(work) / f"part{i}.out")}))
            procs.append(subprocess.Popen([sys.executable, "-m", "babelsafe.reporting.exports", str(job)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        n, heaps = _export_part(str(store), query, cols, quota, str(tmp_csv), str(tmp_pq), True,
                                ranges[0][0], ranges[0][1])
        for i, proc in enumerate(procs, start=1):
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"export helper {i} failed: {err.decode(errors='replace')[-2000:]}")
            n_i, heaps_i = pickle.loads((Path(work) / f"part{i}.out").read_bytes())
            n += n_i
            heaps += heaps_i
        with open(tmp_csv, "ab") as out:
            for i in range(1, workers):
                with open(Path(work) / f"part{i}.csv", "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        first = pq.ParquetFile(str(tmp_pq))
        merged = tmp_pq.with_name(tmp_pq.name + ".all")
        with pq.ParquetWriter(str(merged), first.schema_arrow, compression="zstd") as w:
            for path in [tmp_pq] + [Path(work) / f"part{i}.parquet" for i in range(1, workers)]:
                for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=BATCH):
                    w.write_batch(batch)
        os.replace(merged, tmp_pq)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    return n, heaps


def _helper_main(job_path: str) -> None:
    job = pickle.loads(Path(job_path).read_bytes())
    res = _export_part(job["store"], ExportQuery(*job["query"]), job["cols"], job["quota"], job["csv"], job["pq"],
                       False, job["lo"], job["hi"])
    Path(job["out"]).write_bytes(pickle.dumps(res))


def _decoded(row: tuple) -> tuple:
    return tuple(x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in row)


# Below this many rows the export builds its Arrow arrays without pa.array(): pyarrow's first pa.array()
# imports pandas (0.5-0.6 s of CPU) only to ask whether the values are pandas objects; the builders
# cost ~0.1 s more per 100k rows than pa.array, so past ~500k rows importing pandas is the cheaper way.
BUILDERS_BELOW = 500_000


def _built(pa: Any, np: Any, values: Sequence[Any], t: Any) -> Any:
    """An Arrow array of type t from one fetched column, without pa.array() (so without pandas): a
    StringBuilder (then full UTF-8 validation) for strings, the values' buffer for numbers. Any value
    these cannot take (a stray type, bad UTF-8, an int64 overflow) falls back to `_arrow`."""
    try:
        if t == pa.string():
            b = pa.lib.StringBuilder()
            b.append_values(values)
            arr = b.finish()
            arr.validate(full=True)
            return arr
        n = len(values)
        nulls = values.count(None)
        if nulls == n:
            return pa.nulls(n, t)
        code, zero = ("q", 0) if t == pa.int64() else ("d", 0.0)
        valid = None
        if nulls:  # validity bitmap, LSB first; the null slots hold 0
            valid = pa.py_buffer(np.packbits(np.frombuffer(bytes(map(is_not, values, repeat(None))), np.uint8),
                                             bitorder="little"))
            data = array(code, map({None: zero}.get, values, values))
        else:
            data = array(code, values)
        return pa.Array.from_buffers(t, n, [valid, pa.py_buffer(data)], null_count=nulls)
    except (TypeError, ValueError, OverflowError, pa.ArrowException):
        return _arrow(pa, values, t)


def _arrow(pa: Any, values: Sequence[Any], t: Any) -> Any:
    """An Arrow array of type t from one fetched column (str or UTF-8 bytes for strings)."""
    try:
        if t == pa.string():
            return pa.array(values, type=pa.binary()).cast(pa.string())
        return pa.array(values, type=t)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a stray value of another type: convert one by one
        if t == pa.string():
            return pa.array([None if v is None else v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                             for v in values], type=t)
        conv = int if t == pa.int64() else float
        out = []
        for v in values:
            try:
                out.append(None if v is None else conv(v.decode() if isinstance(v, bytes) else v))
            except (TypeError, ValueError):
                out.append(None)
        return pa.array(out, type=t)


def _write(batches: Iterator[list[tuple]], cols: list[str], sampler: ExampleSampler, csv_path: Path | None,
           pq_path: Path, header: bool = True, rows_hint: int | None = None,
           then: Callable[[], Iterable[Any]] | None = None) -> int:
    """Stream batches into csv_path (and pq_path with pyarrow) while offering rows to the sampler.
    rows_hint: about how many rows come (below BUILDERS_BELOW the arrays are built without pandas).
    csv_path None (pyarrow only): the batches go to pq_path as an Arrow IPC file instead (a helper's part
    of the one read, onepass.py). `then`: called after the rows, gives record batches to write after
    them (the helper's part)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError:
        pa = None
    n = 0
    ncols = len(cols)
    if pa is None:
        with open(csv_path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            if header:
                w.writerow(cols)
            for rows in batches:
                sampler.offer_batch(rows, *_SAMPLER_COLS)
                w.writerows(r[:ncols] for r in rows)
                n += len(rows)
        return n
    types = []
    for c in cols:
        if c in _INT_COLS:
            types.append(pa.int64())
        elif c in _FLOAT_COLS or c.startswith("score_"):
            types.append(pa.float64())
        else:
            types.append(pa.string())
    schema = pa.schema([pa.field(c, t) for c, t in zip(cols, types)])
    np = None
    if rows_hint is not None and rows_hint < BUILDERS_BELOW:
        try:
            import numpy as np
        except ImportError:  # pyarrow without numpy: pa.array() it is
            np = None
    cw = pqw = None
    out = None
    try:
        if csv_path is None:
            pqw = pa.ipc.new_file(str(pq_path), schema)
        else:
            cw = pacsv.CSVWriter(str(csv_path), schema, write_options=pacsv.WriteOptions(include_header=header))
            pqw = pq.ParquetWriter(str(pq_path), schema, compression="zstd")
        out = _BatchWriter(tuple(w for w in (cw, pqw) if w is not None))
        for rows in batches:
            columns = list(zip(*rows))
            arrays = ([_built(pa, np, columns[i], t) for i, t in enumerate(types)] if np is not None else
                      [_arrow(pa, columns[i], t) for i, t in enumerate(types)])
            out.put(pa.RecordBatch.from_arrays(arrays, schema=schema))
            n += len(rows)
            sampler.offer_batch(rows, *_SAMPLER_COLS)
        for batch in then() if then is not None else ():
            out.put(batch)
            n += batch.num_rows
        if n == 0:
            out.put(pa.RecordBatch.from_arrays([pa.nulls(0, t) for t in types], schema=schema))
        out.close()
    finally:
        if out is not None:
            out.close(raise_error=False)
        if cw is not None:
            cw.close()
        if pqw is not None:
            pqw.close()
    return n


class _BatchWriter:
    """Writes record batches to the CSV and Parquet writers on a thread of its own: pyarrow encodes and
    compresses without the GIL, so that runs on the second core while this thread fetches and builds
    the next batch. At most `depth` batches wait (bounded memory). A write error is raised by the next
    `put` or by `close`."""

    def __init__(self, writers: tuple[Any, ...], depth: int = 2):
        self.writers = writers
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="babelsafe-export-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            batch = self.q.get()
            if batch is None:
                return
            if self.error is None:
                try:
                    for w in self.writers:
                        w.write_batch(batch)
                except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                    self.error = e

    def put(self, batch: Any) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(batch)

    def close(self, raise_error: bool = True) -> None:
        """Wait for the queued batches to be written (then the writers may be closed)."""
        if self.thread.is_alive():
            self.q.put(None)
            self.thread.join()
        if raise_error and self.error is not None:
            raise self.error


if __name__ == "__main__":  # helper process of _export_parallel
    _helper_main(sys.argv[1])
