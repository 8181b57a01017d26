"""Prompt files: CSV / TSV / JSONL / JSON / Parquet (optionally .gz) with a `prompt` column.

Optional columns: `id`, `language`, `category`, `label`; any other column goes to `Sample.meta`.
`columns` maps babelsafe's field names to the file's, e.g. {"prompt": "question", "id": "qid"}.
Malformed rows raise a DataError naming the file, the line (or record) and the problem; with
`skip_bad_rows=True` they are skipped, counted and logged, and the valid rows load.
"""
from __future__ import annotations

import bisect
import csv
import gzip
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .. import languages as langs
from ..errors import DataError, UsageError
from ..taxonomy import coarse
from ..types import Sample
from ._common import wanted_languages

log = logging.getLogger(__name__)

FIELDS = ("prompt", "id", "language", "category", "label")
MAX_PROMPT_CHARS = 200_000
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
           ".parquet": "parquet", ".pq": "parquet"}
_LABELS = {"harmful": "harmful", "unsafe": "harmful", "1": "harmful", "true": "harmful", "yes": "harmful",
           "benign": "benign", "safe": "benign", "0": "benign", "false": "benign", "no": "benign"}
_SKIP_HINT = "Fix the row, or pass --skip-bad-rows (options: {skip_bad_rows: true}) to run the valid rows."


def file_format(path: str | Path) -> str | None:
    """'csv' | 'tsv' | 'jsonl' | 'json' | 'parquet' from the file name (a trailing .gz is allowed)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return FORMATS.get(suffixes[-1]) if suffixes else None


@dataclass
class Raw:
    where: str  # "line 12" | "record 3 (line 7)" | "row 5"
    record: dict[str, Any] | None
    problem: str | None = None  # set when the record could not even be parsed


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except OSError as e:
            raise DataError(f"{path}: not a valid gzip file ({e}).") from e
    return data


def _utf8_problem(text: str) -> str | None:
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        return "broken UTF-8 (bytes that are not valid UTF-8 text); re-save the file as UTF-8"
    return None


def _iter_csv(path: Path, data: bytes, delimiter: str) -> tuple[list[str], Iterator[Raw]]:
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: the file is empty (expected a header row with a 'prompt' column).")
    except csv.Error as e:
        raise DataError(f"{path}, line 1: malformed CSV header ({e}).") from e
    bad_header = _utf8_problem("".join(header))
    if bad_header:
        raise DataError(f"{path}, line 1: {bad_header}.")
    header = [h.strip() for h in header]

    lines: list[str] = []  # the file's physical lines, split only when a row spans several

    def unterminated(first: int, last: int) -> bool:
        """Whether the row on lines first..last (1-based) is a quote left open to the end of the file."""
        if not lines:
            lines.extend(io.StringIO(text, newline="").readlines())
        if last < len(lines):  # a row that ends before the file does closed its quotes
            return False
        try:
            list(csv.reader(io.StringIO("".join(lines[first - 1:]), newline=""), delimiter=delimiter,
                            strict=True))
        except csv.Error as e:
            return "unexpected end of data" in str(e)
        return False

    def rows() -> Iterator[Raw]:
        rd, offset = reader, 0  # offset: lines before the current reader's first line
        start = rd.line_num + 1
        while True:
            try:
                cells = next(rd)
            except StopIteration:
                return
            except csv.Error as e:
                yield Raw(f"line {start}", None, f"malformed CSV ({e})")
                start = offset + rd.line_num + 1
                continue
            where = f"line {start}"
            end = offset + rd.line_num
            if end > start and unterminated(start, end):
                # Without this check the rest of the file would silently become one multi-line prompt.
                yield Raw(where, None, f"a quoted value opened on this line is never closed (unterminated "
                                       f"'\"'), so lines {start}-{end} would be read as one value; close the "
                                       f"quote or escape it as '\"\"'")
                rest = "".join(lines[start:])  # the lines after the bad one are read as rows again
                rd, offset = csv.reader(io.StringIO(rest, newline=""), delimiter=delimiter), start
                start = offset + 1
                continue
            start = end + 1
            if not cells or all(not c.strip() for c in cells):
                continue  # blank line
            bad = _utf8_problem("".join(cells))
            if bad:
                yield Raw(where, None, bad)
            elif len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
                yield Raw(where, None, f"{len(cells)} fields but the header has {len(header)} "
                                        f"(an unquoted '{delimiter}' in a value?)")
            else:
                yield Raw(where, {h: (cells[i] if i < len(cells) else None) for i, h in enumerate(header)})

    return header, rows()


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes, read as a stream (gzip-decompressed for .gz)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as f:  # type: ignore[operator]
            yield from f
    except (OSError, EOFError) as e:
        if path.suffix.lower() == ".gz":
            raise DataError(f"{path}: not a valid gzip file ({e}).") from e
        raise


def _iter_jsonl(path: Path, data: Iterable[bytes]) -> Iterator[Raw]:
    """JSON Lines records from the file's lines (or its bytes)."""
    for n, line in enumerate(data.split(b"\n") if isinstance(data, bytes) else data, 1):
        if n == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield Raw(f"line {n}", None, "broken UTF-8 (bytes that are not valid UTF-8 text); "
                                          "re-save the file as UTF-8")
            continue
        try:
            obj = _decode(text)
        except json.JSONDecodeError as e:
            yield Raw(f"line {n}", None, f"malformed JSON ({e.msg} at column {e.colno})")
            continue
        yield Raw(f"line {n}", obj) if type(obj) is dict else _record(f"line {n}", obj)


_decode = json.JSONDecoder().decode  # json.loads without its per-call type checks


def _record(where: str, obj: Any) -> Raw:
    if isinstance(obj, str):
        return Raw(where, {"prompt": obj})
    if not isinstance(obj, dict):
        return Raw(where, None, f"expected a JSON object, got {type(obj).__name__}")
    return Raw(where, obj)


def _iter_json(path: Path, data: bytes) -> Iterator[Raw]:
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: broken UTF-8 (bytes that are not valid UTF-8 text); "
                        f"re-save the file as UTF-8.") from e
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}, line {e.lineno}: malformed JSON ({e.msg} at column {e.colno}). "
                        f"A whole-file JSON document cannot be partly loaded; for one record per line "
                        f"use JSONL.") from e
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError(f"{path}: expected a JSON array of records (or an object holding exactly one "
                            f"array); found an object with keys {', '.join(map(str, doc)) or '(none)'}.")
        items, positions = lists[0], None
    elif isinstance(doc, list):
        items, positions = doc, _array_positions(text)
    else:
        raise DataError(f"{path}: expected a JSON array of records, got {type(doc).__name__}.")
    newlines = [i for i, ch in enumerate(text) if ch == "\n"] if positions else []
    for i, obj in enumerate(items):
        where = f"record {i + 1}"
        if positions and i < len(positions):
            where += f" (line {bisect.bisect_right(newlines, positions[i]) + 1})"
        yield _record(where, obj)


def _array_positions(text: str) -> list[int] | None:
    """Start offsets of the top-level array's items (for line numbers in messages)."""
    dec = json.JSONDecoder()
    ws = " \t\r\n"
    i = len(text) - len(text.lstrip(ws))
    if i >= len(text) or text[i] != "[":
        return None
    i += 1
    out: list[int] = []
    try:
        while True:
            while i < len(text) and text[i] in ws:
                i += 1
            if text[i] == "]":
                return out
            out.append(i)
            _, i = dec.raw_decode(text, i)
            while i < len(text) and text[i] in ws:
                i += 1
            if text[i] == ",":
                i += 1
    except (json.JSONDecodeError, IndexError):
        return None


def _iter_parquet(path: Path) -> tuple[list[str], Iterator[Raw]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise UsageError("Reading Parquet files needs pyarrow: pip install 'babelsafe[report]' "
                         "(or pip install pyarrow).") from e
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: not a readable Parquet file ({e}).") from e
    cols = list(pf.schema_arrow.names)

    def rows() -> Iterator[Raw]:  # record batches: never the whole table in memory
        i = 0
        try:
            for batch in pf.iter_batches(batch_size=10_000):
                for rec in batch.to_pylist():
                    i += 1
                    yield Raw(f"row {i}", rec)
        except Exception as e:  # noqa: BLE001 - a corrupt row group
            raise DataError(f"{path}: not a readable Parquet file after row {i} ({e}).") from e

    return cols, rows()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from pandas-written files
        return None
    return value if isinstance(value, str) else str(value)


class Builder:
    """Turns raw records into Samples, validating each one."""

    def __init__(self, path: Path | str, dataset: str, columns: dict[str, str], language: str | None,
                 max_prompt_chars: int, taxonomy: str = "file") -> None:
        self.path, self.dataset, self.columns = path, dataset, columns
        self.taxonomy = taxonomy
        self.language, self.max_chars = language, max_prompt_chars
        self.mapped = set(columns.values())
        self.seen: dict[tuple[str, str], str] = {}
        self.check_ids = True  # off for a pass over rows already validated (the id index is the big part)
        self.bad: list[int] = []  # ordinals (self.n) of the rows that failed
        self.n = 0
        self.defaulted = 0

    def build(self, raw: Raw) -> Sample:
        """A Sample, or ValueError(problem)."""
        self.n += 1
        if raw.problem:
            raise ValueError(raw.problem)
        rec = raw.record or {}
        c = self.columns
        value = rec.get(c["prompt"])
        if isinstance(value, (list, tuple)):  # e.g. SORRY-Bench's single-turn `turns` lists
            if len(value) != 1 or not isinstance(value[0], str):
                raise ValueError(f"prompt column '{c['prompt']}' holds a list of {len(value)} items; "
                                 f"expected text (or a list with one text)")
            value = value[0]
        prompt = value if type(value) is str else _text(value)
        if prompt is None or not prompt.strip():
            raise ValueError(f"empty prompt (column '{c['prompt']}')")
        if len(prompt) > self.max_chars:
            raise ValueError(f"prompt is {len(prompt):,} characters, over the limit of {self.max_chars:,} "
                             f"(option max_prompt_chars)")
        lang_val = _text(rec.get(c["language"])) if c["language"] in rec else None
        if lang_val and lang_val.strip():
            try:
                lang = langs.normalize(lang_val)  # memoised: a file has a handful of distinct values
            except UsageError:
                raise ValueError(f"unknown language code '{lang_val}' (use ISO 639-1/639-3 codes such as "
                                 f"en, zh, bn; `babelsafe list languages` shows all)") from None
        else:
            lang = self.language or "en"
            self.defaulted += self.language is None
        sid = _text(rec.get(c["id"])) if c["id"] in rec else None
        sid = sid.strip() if sid and sid.strip() else str(self.n)
        if self.check_ids:
            first = self.seen.get((sid, lang))
            if first is not None:
                raise ValueError(f"duplicate id '{sid}' for language '{lang}' (first on {first})")
            self.seen[(sid, lang)] = raw.where
        meta: dict[str, Any] = {k: v for k, v in rec.items() if k not in self.mapped and k is not None}
        raw_cat = _text(rec.get(c["category"])) if c["category"] in rec else None
        category = None
        if raw_cat and raw_cat.strip():
            raw_cat = raw_cat.strip()
            mapped = coarse(self.taxonomy, raw_cat)
            category = mapped if mapped != "other" or raw_cat == "other" else raw_cat
            meta["raw_category"] = raw_cat
        label = _text(rec.get(c["label"])) if c["label"] in rec else None
        if label and label.strip():
            meta["label"] = _LABELS.get(label.strip().lower(), label.strip())
        return Sample(dataset=self.dataset, id=sid, language=lang, prompt=prompt, category=category,
                      meta=meta)


def load_file(path: str | Path, columns: dict[str, str] | None = None, language: str | None = None,
              skip_bad_rows: bool = False, *, name: str | None = None,
              max_prompt_chars: int = MAX_PROMPT_CHARS, taxonomy: str = "file") -> Iterator[Sample]:
    """The Samples of a prompt file, as a stream. Validates the whole file before returning (so a bad
    row fails the run before any model call; raises DataError naming the file, line and problem).
    A small file (KEEP_CHARS) keeps the samples validation built; a larger one keeps none: its
    samples are built again, lazily, in a second pass over the file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"Dataset file not found: {path}.")
    fmt = file_format(path)
    if fmt is None:
        raise UsageError(f"{path}: unknown file type. Use .csv, .tsv, .jsonl, .json or .parquet "
                         f"(optionally .gz-compressed).")
    cols = field_map(columns)
    default_lang = langs.normalize(language) if language else None

    def raws() -> Iterator[Raw]:  # a fresh pass over the file
        if fmt in ("csv", "tsv"):
            header, rows = _iter_csv(path, _read_bytes(path), "\t" if fmt == "tsv" else ",")
            check_columns(path, header, cols)
            return rows
        if fmt == "parquet":
            header, rows = _iter_parquet(path)
            check_columns(path, header, cols)
            return rows
        return _iter_jsonl(path, _lines(path)) if fmt == "jsonl" else _iter_json(path, _read_bytes(path))

    first = raws()
    if fmt in ("jsonl", "json"):
        _check_first_record(path, first, cols)
        first = raws()
    dataset = name or path.name.split(".")[0]
    checked = Builder(path, dataset, cols, default_lang, max_prompt_chars, taxonomy)
    kept = _Kept(KEEP_CHARS)
    validate_rows(str(path), first, checked, skip_bad_rows, kept.add)
    if kept.samples is not None:  # a small file: the validated samples, no second pass
        return kept.drain()
    again = Builder(path, dataset, cols, default_lang, max_prompt_chars, taxonomy)
    again.check_ids = False
    return _built(raws(), again, set(checked.bad))


# A file whose prompts total at most this many characters keeps the samples its validation built (a
# few MB) instead of reading and building them again: one pass instead of two (~8 us a row); larger
# files stream their second pass.
KEEP_CHARS = 4_000_000


class _Kept:
    """The samples of the validation pass while they fit in `budget` characters (then None)."""

    def __init__(self, budget: int):
        self.samples: list[Sample] | None = []
        self.left = budget

    def add(self, s: Sample) -> None:
        if self.samples is None:
            return
        self.left -= len(s.prompt) + 100  # + the rest of the sample, roughly
        if self.left < 0:
            self.samples = None
        else:
            self.samples.append(s)

    def drain(self) -> Iterator[Sample]:
        """The kept samples in order, each released once yielded."""
        samples, self.samples = self.samples or [], None
        samples.reverse()
        while samples:
            yield samples.pop()


def _built(raws: Iterable[Raw], builder: Builder, bad: set[int]) -> Iterator[Sample]:
    """The samples of rows already validated: the rows that failed then (reported then) are skipped
    by their ordinal, so no id index is kept while the run streams."""
    for raw in raws:
        if builder.n + 1 in bad:
            builder.n += 1
            continue
        try:
            yield builder.build(raw)
        except ValueError:
            continue


def field_map(columns: dict[str, str] | None) -> dict[str, str]:
    """babelsafe field -> source column, validated."""
    cols = {f: f for f in FIELDS}
    for k, v in (columns or {}).items():
        if k not in FIELDS:
            raise UsageError(f"Unknown field '{k}' in columns mapping; valid: {', '.join(FIELDS)} "
                             f"(e.g. columns: {{prompt: question}}).")
        cols[k] = str(v)
    return cols


def build_samples(label: str, raws: Iterable[Raw], builder: Builder, skip_bad_rows: bool) -> list[Sample]:
    """Validate every raw record; raise on the first bad one, or skip and log them all."""
    samples: list[Sample] = []
    validate_rows(label, raws, builder, skip_bad_rows, samples.append)
    return samples


def validate_rows(label: str, raws: Iterable[Raw], builder: Builder, skip_bad_rows: bool,
                  keep: Callable[[Sample], Any] | None = None) -> int:
    """Build every raw record (passing each sample to `keep` when given); raise on the first bad one,
    or skip and log them all. Returns the number of good rows."""
    bad: list[str] = []
    good = 0
    for raw in raws:
        try:
            sample = builder.build(raw)
        except ValueError as e:
            if not skip_bad_rows:
                raise DataError(f"{label}, {raw.where}: {e}. {_SKIP_HINT}") from None
            bad.append(f"{raw.where}: {e}")
            builder.bad.append(builder.n)
            continue
        good += 1
        if keep is not None:
            keep(sample)
    if bad:
        log.warning("%s: skipped %d bad row(s) (--skip-bad-rows); first: %s", label, len(bad),
                    "; ".join(bad[:5]))
    if not good:
        extra = f" ({len(bad)} bad rows skipped; first: {bad[0]})" if bad else ""
        raise DataError(f"{label}: no valid rows{extra}.")
    if builder.defaulted and builder.language is None:
        log.info("%s: %d row(s) have no language; assuming English (set options.language to change it).",
                 label, builder.defaulted)
    return good


def check_columns(path: Path | str, header: list[str], cols: dict[str, str]) -> None:
    if cols["prompt"] not in header:
        found = ", ".join(repr(h) for h in header) or "(none)"
        raise DataError(f"{path}: no '{cols['prompt']}' column. Columns found: {found}. Rename the column, "
                        f"or map it, e.g. options: {{columns: {{prompt: <your column>}}}}.")


def _check_first_record(path: Path, raws: Iterable[Raw], cols: dict[str, str]) -> None:
    """For JSON(L): if no record at all has the prompt field, report the keys found (not per-row errors).
    Stops at the first record that has it (usually the first one)."""
    keys: set[str] = set()
    n_good = 0
    for r in raws:
        if r.record is None:
            continue
        if cols["prompt"] in r.record:
            return
        if n_good < 100:
            keys.update(r.record)
        n_good += 1
    if n_good:
        raise DataError(f"{path}: no '{cols['prompt']}' field in any record. Fields found: "
                        f"{', '.join(repr(k) for k in sorted(keys)) or '(none)'}. Rename the field, or map it, "
                        f"e.g. options: {{columns: {{prompt: <your field>}}}}.")


class FileDataset:
    """A prompt file (CSV, TSV, JSONL, JSON or Parquet) with a `prompt` column; other columns are optional."""

    name = "file"
    languages: list[str] = []
    license = "(your file)"
    source = "a local file: --dataset path/to/prompts.csv"
    categories: list[str] = []

    def __init__(self, path: str | Path, columns: dict[str, str] | None = None, language: str | None = None,
                 skip_bad_rows: bool = False, name: str | None = None,
                 max_prompt_chars: int = MAX_PROMPT_CHARS, taxonomy: str = "file") -> None:
        self.path = Path(path)
        self.taxonomy = taxonomy
        self.columns, self.language, self.skip_bad_rows = columns, language, skip_bad_rows
        self.name = name or self.path.name.split(".")[0]
        self.max_prompt_chars = max_prompt_chars
        if language:
            langs.normalize(language)  # fail early on an unknown code

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        wanted = wanted_languages(languages)
        samples = load_file(self.path, self.columns, self.language, self.skip_bad_rows, name=self.name,
                            max_prompt_chars=self.max_prompt_chars, taxonomy=self.taxonomy)
        return samples if wanted is None else (s for s in samples if s.language in wanted)
