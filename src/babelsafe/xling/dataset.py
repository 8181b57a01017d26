"""Cross-lingual consistency datasets: the same benign question in several languages, rows sharing an
item id. `consistency:path=FILE.jsonl` reads your own rows; `xling-mini` is the shipped example set.

Row format (JSONL, one row per item and language): {"id", "language", "question", "answer"?
(a reference answer in that language, for the verifiability pairs), "category"?}.

Every sample is answered by the `consistency` task (meta["task"]). An item that lacks a language the
run asks for (or the dataset has for other items) still yields a sample for it, flagged `missing`: the
task stores it as an error naming the item and the language, so it is counted, never silently dropped.
Options: `pivot` (default en: the language every answer is compared with), `verify` (default true:
the Yes/No verifiability checks), `samples` (default 0; k >= 2 adds XLingEval's self-consistency: k more
answers at `temperature` (default 1.0), back-translated and compared pairwise with chrF within the
language), `name` (the dataset name in reports; files only).
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

from .. import languages as langs
from ..errors import UsageError
from ..types import Sample

TASK = "consistency"


@dataclass(frozen=True)
class Row:
    id: str
    language: str
    question: str
    answer: str | None = None
    category: str | None = None
    raw_category: str | None = None
    label: str = "benign"  # the prompt's label (a wrapped dataset's own; benign by default)


def parse_rows(lines: Iterable[str], where: str, skip_bad_rows: bool = False) -> list[Row]:
    """Rows from JSONL lines; a UsageError naming file and line for anything malformed (or skipped)."""
    import logging

    log = logging.getLogger(__name__)
    out: list[Row] = []
    seen: set[tuple[str, str]] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        at = f"{where}:{n}"
        try:
            row = _row(line, at)
            if (row.id, row.language) in seen:
                raise UsageError(f"{at}: item '{row.id}' has a second '{row.language}' version; "
                                 "each (id, language) must appear once.")
        except UsageError as e:
            if not skip_bad_rows:
                raise
            log.warning("skipped: %s", e)
            continue
        seen.add((row.id, row.language))
        out.append(row)
    return out


def _row(line: str, at: str) -> Row:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise UsageError(f"{at}: not valid JSON ({e.msg}); each line must be one object.") from e
    if not isinstance(data, dict):
        raise UsageError(f"{at}: expected an object with id, language and question.")
    for key in ("id", "language", "question"):
        if not str(data.get(key) or "").strip():
            raise UsageError(f"{at}: no `{key}`. Rows need id (shared across languages), language and "
                             "question.")
    try:
        lang = langs.normalize(str(data["language"]))
    except UsageError as e:
        raise UsageError(f"{at}: {e}") from e
    answer = data.get("answer")
    return Row(id=str(data["id"]).strip(), language=lang, question=str(data["question"]).strip(),
               answer=str(answer).strip() if isinstance(answer, (str, int, float)) and str(answer).strip()
               else None, category=(str(data["category"]) if data.get("category") else None))


def samples(rows: list[Row], dataset: str, wanted: set[str] | None, pivot: str = "en",
            verify: bool = True, k: int = 0, temperature: float = 1.0) -> Iterator[Sample]:
    """One sample per item and language (wanted languages, else every language of the file); missing
    versions flagged. A negative pair for verifiability: the next item's reference answer, same language."""
    by_item: dict[str, dict[str, Row]] = defaultdict(dict)
    for r in rows:
        by_item[r.id][r.language] = r
    # every wanted language, present or not: a language no item has is reported missing for each item
    languages = sorted(wanted) if wanted is not None else sorted({r.language for r in rows})
    ids = sorted(by_item)
    for lang in languages:
        keyed = [i for i in ids if lang in by_item[i] and by_item[i][lang].answer]
        at = {i: n for n, i in enumerate(keyed)}
        for pos, item in enumerate(ids):
            versions = by_item[item]
            row = versions.get(lang)
            any_row = row or next(iter(versions.values()))
            pivot_row = versions.get(pivot)
            info: dict[str, Any] = {"pivot": pivot, "verify": bool(verify), "samples": k,
                                    "sample_temperature": temperature,
                                    "pivot_question": pivot_row.question if pivot_row else None,
                                    "missing": None, "answer": None, "negative": None}
            if row is None:
                info["missing"] = (f"item '{item}' of {dataset} has no '{lang}' version (it has "
                                   f"{', '.join(sorted(versions))}); add the row or leave '{lang}' out of -l")
            else:
                info["answer"] = row.answer
                if row.answer and len(keyed) > 1:  # the (pos mod n)th of the other keyed items
                    n = pos % (len(keyed) - 1)
                    other = keyed[n] if n < at[item] else keyed[n + 1]
                    info["negative"] = by_item[other][lang].answer
            yield Sample(dataset=dataset, id=item, language=lang, prompt=row.question if row else "",
                         category=any_row.category,
                         meta={"task": TASK, "item": item, "label": any_row.label,
                               "raw_category": any_row.raw_category or any_row.category, "consistency": info})


def _pivot(pivot: str) -> str:
    try:
        return langs.normalize(pivot)
    except UsageError as e:
        raise UsageError(f"consistency: pivot: {e}") from e


def _k(samples: int, temperature: float) -> tuple[int, float]:
    if int(samples) < 0 or int(samples) == 1 or int(samples) > 20:
        raise UsageError(f"consistency: samples must be 0 (off) or 2-20 answers per question, not {samples}.")
    if not 0.0 < float(temperature) <= 2.0 and int(samples):
        raise UsageError(f"consistency: temperature for the samples must be in (0, 2], not {temperature}.")
    return int(samples), float(temperature)


def dataset_rows(name: str, languages: list[str] | None) -> list[Row]:
    """Rows from a registered parallel dataset (the same Sample.id across languages), e.g. xsafety."""
    from ..datasets import resolve

    ds = resolve(name, {})
    if getattr(ds, "parallel", None) is False:
        raise UsageError(f"consistency: dataset '{name}' is not parallel (its items do not share ids across "
                         "languages), so its answers cannot be compared across languages.")
    return [Row(id=s.id, language=s.language, question=s.prompt, category=s.category,
                raw_category=s.meta.get("raw_category"), label=str(s.meta.get("label") or "benign"))
            for s in ds.load(languages)]


class ConsistencyFile:
    """Your cross-lingual consistency file (JSONL rows: id shared across languages, language, question,
    optional answer and category), or a registered parallel dataset's prompts (`dataset=xsafety`; pick
    benign ones with --categories, e.g. XSafety's commonsense). Options: `path` or `dataset`, `pivot`
    (default en), `verify`, `name`."""

    name = "consistency"
    languages = "any"
    size = None
    license = "the file's own (or the wrapped dataset's)"
    source = "your file; the protocol after XLingEval (Jin et al., WWW 2024, arXiv:2310.13132)"
    citation = ""
    requires = ("path|dataset",)

    def __init__(self, path: str | None = None, dataset: str | None = None, pivot: str = "en", verify: bool = True,
                 samples: int = 0, temperature: float = 1.0, name: str | None = None, skip_bad_rows: bool = False):
        if bool(path) == bool(dataset):
            raise UsageError("consistency needs a file or a parallel dataset: -d 'consistency:path=questions.jsonl'"
                             " (JSONL rows with id, language and question; the same id in every language) or "
                             "-d 'consistency:dataset=xsafety'.")
        self.path = Path(path) if path else None
        self.dataset = dataset
        self.verify, self.skip_bad_rows = bool(verify), skip_bad_rows
        self.pivot = _pivot(pivot)
        self.k, self.temperature = _k(samples, temperature)
        self.dataset_name = name or (self.path.stem if self.path else f"{dataset}-consistency")

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        from ..datasets._common import wanted_languages

        if self.dataset:
            wanted = wanted_languages(languages)
            # the pivot version is needed to compare with, asked or not
            load_langs = sorted(wanted | {self.pivot}) if wanted is not None else None
            rows = dataset_rows(self.dataset, load_langs)
            return samples(rows, self.dataset_name, wanted, self.pivot, self.verify, self.k, self.temperature)
        assert self.path is not None
        if not self.path.is_file():
            raise UsageError(f"consistency: no such file {self.path}.")
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as e:
            raise UsageError(f"{self.path}: not UTF-8 text (byte {e.start}). Re-save it as UTF-8.") from e
        rows = parse_rows(text.splitlines(), str(self.path), self.skip_bad_rows)
        return samples(rows, self.dataset_name, wanted_languages(languages), self.pivot, self.verify, self.k,
                       self.temperature)


class XlingMini:
    """12 mild general-knowledge and health questions in en/es/fr/de/zh/hi with reference answers
    (babelsafe's own, translations not native-checked), for cross-lingual answer consistency."""

    name: ClassVar[str] = "xling-mini"
    languages: ClassVar[list[str]] = ["en", "es", "fr", "de", "zh", "hi"]
    size: ClassVar[int] = 72
    categories: ClassVar[list[str]] = ["health", "general knowledge"]
    labels: ClassVar[list[str]] = ["benign"]
    license: ClassVar[str] = "Apache-2.0 (babelsafe's own questions and translations)"
    source: ClassVar[str] = ("babelsafe; protocol after XLingEval / XLingHealth (Jin et al., WWW 2024, "
                             "arXiv:2310.13132)")
    citation: ClassVar[str] = ""

    def __init__(self, pivot: str = "en", verify: bool = True, samples: int = 0, temperature: float = 1.0,
                 skip_bad_rows: bool = False):
        self.pivot, self.verify = _pivot(pivot), bool(verify)
        self.k, self.temperature = _k(samples, temperature)

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        from importlib import resources

        from ..datasets._common import wanted_languages

        text = resources.files(__package__).joinpath("data", "questions.jsonl").read_text("utf-8")
        rows = parse_rows(text.splitlines(), "xling/data/questions.jsonl")
        return samples(rows, self.name, wanted_languages(languages), self.pivot, self.verify, self.k,
                       self.temperature)
