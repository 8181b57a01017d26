"""Multiple-choice tasks (`mcq`): a question, options and an answer key; accuracy per language and category.

Formats read (auto-detected per row):
- babelsafe's own: {"id", "language", "question", "options": [..] | "A".."J" columns, "answer": letter |
  0-based index | option text, "category"}
- LabSafety Bench (Zhou et al. 2024, github.com/YujunZhou/LabSafety-Bench): {"Question" with the options
  embedded as "A: ..." lines, "Correct Answer": letter, "Category": list, "Topic", "Level"}

`variant`: `original` (default), `swapped` or `both`. The swapped variant is the contamination probe of
"Data Contamination Can Cross Language Barriers" (Yao et al. 2024, arXiv:2406.13236): every wrong option is
replaced by the correct answer of another question in the same language, so a model that understands
scores higher, and a model that memorised the original items gains little or drops. The `contamination`
panel compares the two, paired by item.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

from .. import languages as langs
from ..errors import UsageError
from ..types import Sample
from ._common import ShippedDataset, open_text, read_jsonl_items, read_user_text, wanted_languages

LETTERS = "ABCDEFGHIJ"
VARIANTS = ("original", "swapped", "both")
# The answer instruction in each language (babelsafe's own wording); others fall back to English.
INSTRUCTIONS = {
    "en": "Answer with the letter of the correct option.",
    "zh": "请用正确选项的字母作答。",
    "es": "Responde con la letra de la opción correcta.",
    "fr": "Répondez par la lettre de la bonne option.",
    "de": "Antworte mit dem Buchstaben der richtigen Option.",
    "it": "Rispondi con la lettera dell'opzione corretta.",
    "pt": "Responda com a letra da opção correta.",
    "ru": "Ответьте буквой правильного варианта.",
    "ar": "أجب بحرف الخيار الصحيح.",
    "hi": "सही विकल्प के अक्षर से उत्तर दें।",
    "bn": "সঠিক বিকল্পের অক্ষর দিয়ে উত্তর দিন।",
    "sw": "Jibu kwa herufi ya chaguo sahihi.",
    "id": "Jawab dengan huruf pilihan yang benar.",
    "ja": "正しい選択肢の文字で答えてください。",
    "ko": "정답 보기의 알파벳으로 답하세요.",
    "vi": "Hãy trả lời bằng chữ cái của phương án đúng.",
    "th": "ตอบด้วยตัวอักษรของตัวเลือกที่ถูกต้อง",
}


@dataclass
class MCQItem:
    id: str
    language: str
    question: str
    options: list[str]
    answer: int  # index into options
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        lines = [self.question.strip(), ""]
        lines += [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(self.options)]
        lines += ["", INSTRUCTIONS.get(self.language, INSTRUCTIONS["en"])]
        return "\n".join(lines)

    def sample(self, dataset: str, variant: str = "original") -> Sample:
        sid = self.id if variant == "original" else f"{self.id}#{variant}"
        meta = dict(self.meta)
        meta.update({"mcq": {"options": self.options, "answer": self.answer}, "variant": variant,
                     "item": self.id, "label": "benign", "raw_category": self.category})
        return Sample(dataset=dataset, id=sid, language=self.language, prompt=self.render(),
                      category=self.category, meta=meta)


_EMBEDDED = re.compile(r"^\s*([A-J])\s*[:.)]\s*(.+?)\s*$")


def _answer_index(raw: Any, options: list[str], where: str) -> int:
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
        raise UsageError(f"{where}: no answer key. Give `answer` as a letter, a 0-based index or the option text.")
    if isinstance(raw, int):
        idx = raw
    else:
        text = str(raw).strip()
        if len(text) == 1 and text.upper() in LETTERS:
            idx = LETTERS.index(text.upper())
        elif text.isdigit():
            idx = int(text)
        elif text in options:
            idx = options.index(text)
        else:
            raise UsageError(f"{where}: answer {text!r} is not a letter, an index or one of the options.")
    if not 0 <= idx < len(options):
        raise UsageError(f"{where}: answer key {raw!r} is outside the {len(options)} options "
                         f"(A-{LETTERS[len(options) - 1]}).")
    return idx


def parse_row(row: dict[str, Any], where: str, default_language: str = "en") -> MCQItem:
    """One MCQ row in babelsafe's or LabSafety Bench's format; a clear UsageError for anything malformed."""
    if not isinstance(row, dict):
        raise UsageError(f"{where}: expected an object with question, options and answer.")
    if "Question" in row and "Correct Answer" in row:  # LabSafety Bench
        qlines, options = [], []
        for line in str(row["Question"]).splitlines():
            m = _EMBEDDED.match(line)
            if m and LETTERS.index(m.group(1)) == len(options):
                options.append(m.group(2))
            elif not options:
                qlines.append(line)
        cats = row.get("Category") or []
        cats = cats if isinstance(cats, list) else [cats]
        question = "\n".join(qlines).strip()
        meta = {"topic": row.get("Topic"), "level": row.get("Level"), "categories": cats,
                "explanation": row.get("Explanation")}
        item_id, lang, cat, raw_answer = row.get("id", ""), row.get("language", default_language), \
            (str(cats[0]) if cats else None), row["Correct Answer"]
    else:
        question = str(row.get("question") or "").strip()
        options = row.get("options")
        if options is None:
            options = [row[c] for c in LETTERS if row.get(c) not in (None, "")]
        if not isinstance(options, list):
            raise UsageError(f"{where}: `options` must be a list of strings.")
        options = [str(o).strip() for o in options]
        meta = {k: v for k, v in row.items() if k not in {"id", "language", "question", "options", "answer",
                                                          "category", *LETTERS}}
        item_id, lang, cat, raw_answer = row.get("id", ""), row.get("language", default_language), \
            row.get("category"), row.get("answer")
    if not question:
        raise UsageError(f"{where}: empty question.")
    if len(options) < 2 or any(not o for o in options):
        raise UsageError(f"{where}: a multiple-choice item needs at least 2 non-empty options "
                         f"(found {len(options)}).")
    if len(options) > len(LETTERS):
        raise UsageError(f"{where}: at most {len(LETTERS)} options (found {len(options)}).")
    return MCQItem(id=str(item_id), language=langs.normalize(str(lang)), question=question, options=options,
                   answer=_answer_index(raw_answer, options, where), category=cat, meta=meta)


def swapped(items: list[MCQItem], seed: int = 0) -> list[MCQItem]:
    """The contamination variant: each wrong option replaced by another question's correct answer (same
    language, chosen deterministically from `seed`); the correct option keeps its letter."""
    by_lang: dict[str, list[MCQItem]] = {}
    for it in items:
        by_lang.setdefault(it.language, []).append(it)
    out = []
    for lang, group in by_lang.items():
        answers = [(it.id, it.options[it.answer]) for it in group]
        for it in group:
            pool = [a for iid, a in answers if iid != it.id and a != it.options[it.answer]]
            need = len(it.options) - 1
            if len(pool) < need:
                raise UsageError(f"variant=swapped needs at least {need + 1} questions in '{lang}' with distinct "
                                 f"answers (found {len(pool) + 1}).")
            rng = random.Random(f"{seed}:{lang}:{it.id}")
            picks = iter(rng.sample(sorted(set(pool)), need) if len(set(pool)) >= need else rng.sample(pool, need))
            opts = [o if i == it.answer else next(picks) for i, o in enumerate(it.options)]
            out.append(MCQItem(it.id, it.language, it.question, opts, it.answer, it.category, dict(it.meta)))
    return out


def _variants(items: list[MCQItem], variant: str, seed: int) -> Iterator[tuple[MCQItem, str]]:
    if variant not in VARIANTS:
        raise UsageError(f"mcq: variant must be one of {', '.join(VARIANTS)} (got {variant!r}).")
    if variant in ("original", "both"):
        yield from ((it, "original") for it in items)
    if variant in ("swapped", "both"):
        yield from ((it, "swapped") for it in swapped(items, seed))


def read_items(lines: Iterable[str], where: str, skip_bad_rows: bool = False) -> list[MCQItem]:
    """MCQItems from JSONL lines; errors name file:line (see datasets._common.read_jsonl_items)."""
    return read_jsonl_items(lines, where, parse_row, skip_bad_rows)


class MCQFile:
    """A multiple-choice file (JSONL: babelsafe's or LabSafety Bench's row format). Options: `path`
    (required), `variant` (original | swapped | both), `seed`, `name` (the dataset name in reports)."""

    name = "mcq"
    languages = "any"
    size = None
    license = "the file's own"
    source = "your multiple-choice file (JSONL); LabSafety Bench rows are read as published"
    citation = ""
    requires = ("path",)

    def __init__(self, path: str | None = None, variant: str = "original", seed: int = 0, name: str | None = None,
                 skip_bad_rows: bool = False):
        if not path:
            raise UsageError("mcq needs a file: -d 'mcq:path=questions.jsonl' (JSONL rows with question, "
                             "options and answer).")
        self.path, self.variant, self.seed, self.skip_bad_rows = Path(path), variant, seed, skip_bad_rows
        self.dataset_name = name or self.path.stem
        if variant not in VARIANTS:
            raise UsageError(f"mcq: variant must be one of {', '.join(VARIANTS)} (got {variant!r}).")

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        lines = read_user_text(self.path, "mcq")
        wanted = wanted_languages(languages)
        items = [it for it in read_items(lines, str(self.path), self.skip_bad_rows)
                 if wanted is None or it.language in wanted]
        for it, v in _variants(items, self.variant, self.seed):
            yield it.sample(self.dataset_name, v)


class LabSafetyMini(ShippedDataset):
    """A small mild lab-safety multiple-choice set in LabSafety Bench's categories (babelsafe's own
    questions, en/zh/es/ar/bn/sw). Option `variant` (original | swapped | both) for the contamination probe."""

    name: ClassVar[str] = "lab-safety-mini"
    languages: ClassVar[list[str]] = ["en", "zh", "es", "ar", "bn", "sw"]
    size: ClassVar[int] = 72
    categories: ClassVar[list[str]] = ["chemical hazards", "biological hazards", "physical hazards",
                                       "electricity safety", "personal protective equipment (PPE)",
                                       "emergency response", "equipment usage",
                                       "environmental and waste management"]
    labels: ClassVar[list[str]] = ["benign"]
    license: ClassVar[str] = "Apache-2.0 (babelsafe's own questions and translations)"
    source: ClassVar[str] = ("babelsafe; categories and format after LabSafety Bench (Zhou et al., "
                             "arXiv:2410.14182)")
    citation: ClassVar[str] = ""
    parallel: ClassVar[bool] = True

    def __init__(self, variant: str = "original", seed: int = 0, **options: Any):
        super().__init__(**options)
        if variant not in VARIANTS:
            raise UsageError(f"lab-safety-mini: variant must be one of {', '.join(VARIANTS)} (got {variant!r}).")
        self.variant, self.seed = variant, seed

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        return self._iter(wanted_languages(languages))

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        with open_text("lab_safety_mini/questions.jsonl") as f:
            items = [it for it in read_items(f, "lab_safety_mini/questions.jsonl")
                     if wanted is None or it.language in wanted]
        variant = getattr(self, "variant", "original")
        for it, v in _variants(items, variant, getattr(self, "seed", 0)):
            yield it.sample(self.name, v)
