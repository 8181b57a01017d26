"""Helpfulness probe (`helpful`): benign questions, some with an answer key, to put each language's
usefulness next to its over-refusal and unsafe rates.

Row format (JSONL, one question per line):
    {"id", "language", "question", "category",
     "answer": "Paris" | 42 | ["48", "forty-eight"]}    # accepted answers: scored by `answer-match`
    {"id", "language", "question", "open": true}       # no key: scored by the `helpfulness` rubric only
A row needs either a non-empty `answer` or `open: true`; an empty key is an error naming file and line.
Every sample is labelled benign (so a refusal judge's over-refusal rate covers it) and carries
`meta["helpful"] = {"answers": [...], "number": float | None}`; the `helpfulness` rubric (judges/rubrics)
rates every answer 1-5.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

from .. import languages as langs
from ..errors import UsageError
from ..types import Sample
from ._common import ShippedDataset, open_text, read_jsonl_items, read_user_text, wanted_languages



@dataclass
class HelpfulItem:
    id: str
    language: str
    question: str
    answers: list[str]  # accepted answers; empty for an open question
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def sample(self, dataset: str) -> Sample:
        from ..judges.answer_match import parse_number

        meta = dict(self.meta)
        number = next((n for n in map(parse_number, self.answers) if n is not None), None)
        meta.update({"helpful": {"answers": list(self.answers), "number": number}, "item": self.id,
                     "label": "benign", "raw_category": self.category})
        return Sample(dataset=dataset, id=self.id, language=self.language, prompt=self.question,
                      category=self.category, meta=meta)


def _answers(raw: Any, where: str) -> list[str]:
    vals = raw if isinstance(raw, list) else [raw]
    out = []
    for v in vals:
        if isinstance(v, bool) or v is None or isinstance(v, (dict, list)):
            raise UsageError(f"{where}: answer key {v!r} must be text or a number.")
        s = str(v).strip()
        if s:
            out.append(s)
    if not out:
        raise UsageError(f"{where}: empty answer key. Give `answer` as text, a number or a list of accepted "
                         "answers, or mark an open question with \"open\": true.")
    return out


def parse_row(row: Any, where: str, default_language: str = "en") -> HelpfulItem:
    """One question row; a clear UsageError for anything malformed."""
    if not isinstance(row, dict):
        raise UsageError(f"{where}: expected an object with question and answer (or open: true).")
    question = str(row.get("question") or row.get("prompt") or "").strip()
    if not question:
        raise UsageError(f"{where}: empty question.")
    if "answer" in row:
        answers = _answers(row["answer"], where)
    elif row.get("open") is True:
        answers = []
    else:
        raise UsageError(f"{where}: no answer key. Give `answer` (text, number or list) or mark an open "
                         "question with \"open\": true.")
    meta = {k: v for k, v in row.items() if k not in {"id", "language", "question", "prompt", "answer",
                                                      "category", "open"}}
    return HelpfulItem(id=str(row.get("id", "")), language=langs.normalize(str(row.get("language",
                       default_language))), question=question, answers=answers,
                       category=row.get("category"), meta=meta)


def read_items(lines: Iterable[str], where: str, skip_bad_rows: bool = False) -> list[HelpfulItem]:
    """HelpfulItems from JSONL lines; errors name file:line (see datasets._common.read_jsonl_items)."""
    return read_jsonl_items(lines, where, parse_row, skip_bad_rows)


class HelpfulFile:
    """Your own helpfulness questions (JSONL: question, answer or open: true). Options: `path`
    (required), `name` (the dataset name in reports)."""

    name = "helpful"
    languages = "any"
    size = None
    license = "the file's own"
    source = "your question file (JSONL): benign questions with accepted answers, or open ones"
    citation = ""
    requires = ("path",)

    def __init__(self, path: str | None = None, name: str | None = None, skip_bad_rows: bool = False):
        if not path:
            raise UsageError("helpful needs a file: -d 'helpful:path=questions.jsonl' (JSONL rows with question "
                             "and answer, or open: true).")
        self.path, self.skip_bad_rows = Path(path), skip_bad_rows
        self.dataset_name = name or self.path.stem

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        lines = read_user_text(self.path, "helpful")
        wanted = wanted_languages(languages)
        # read every row first: a bad row anywhere is an error before any request is sent
        items = read_items(lines, str(self.path), self.skip_bad_rows)
        return iter([it.sample(self.dataset_name) for it in items if wanted is None or it.language in wanted])


class HelpfulMini(ShippedDataset):
    """12 mild benign questions (8 with answer keys, 4 open) in en/zh/es/ar/bn/sw: the project's own
    questions and translations. For the helpfulness probe beside over-refusal and unsafe rates."""

    name: ClassVar[str] = "helpful-mini"
    languages: ClassVar[list[str]] = ["en", "zh", "es", "ar", "bn", "sw"]
    size: ClassVar[int] = 72
    categories: ClassVar[list[str]] = ["arithmetic", "nature", "science", "geography", "everyday", "advice",
                                       "writing", "computing"]
    labels: ClassVar[list[str]] = ["benign"]
    license: ClassVar[str] = "Apache-2.0 (babelsafe's own questions and translations, not native-speaker verified)"
    source: ClassVar[str] = "babelsafe (helpfulness probe, issue 15)"
    citation: ClassVar[str] = ""
    parallel: ClassVar[bool] = True

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        with open_text("helpful_mini/questions.jsonl") as f:
            items = read_items(f, "helpful_mini/questions.jsonl")
        for it in items:
            if wanted is None or it.language in wanted:
                yield it.sample(self.name)
