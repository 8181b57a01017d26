"""Real-output judge data shared by the judge tests: where it lives and how its JSONL rows are read.

DATA: tests/data (the translated parity set, the embedded model's hand-labelled answers).
DEV: ../shared/datasets/refusal_dev_xstest/responses.jsonl (beside the repo, in CI too; tests that need
it skip or narrow when it is absent).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
DEV = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "refusal_dev_xstest" / "responses.jsonl"


def rows(path: Path, **extra: str) -> list[dict]:
    """The JSONL file's rows, each with the given fields added (e.g. language="en")."""
    return [dict(json.loads(line), **extra) for line in path.open(encoding="utf-8") if line.strip()]


def dev_rows() -> list[dict]:
    """The XSTest dev file's dev rows (held-out rows, sha256(id) % 3 == 0, are never returned); skips the
    calling test when the file is not beside the repo."""
    if not DEV.is_file():
        pytest.skip(f"{DEV} not present")
    return [r for r in rows(DEV) if int(hashlib.sha256(r["id"].encode()).hexdigest(), 16) % 3 != 0]


def parity_rows() -> list[dict]:
    """Every row of the translated parity set (tests/data/judge_parity, 19 languages)."""
    return [r for f in sorted((DATA / "judge_parity").glob("*.jsonl")) for r in rows(f)]


def real_answers() -> list[dict]:
    """Real answers of real models: the parity set (19 languages) plus, when beside the repo, the
    900 XSTest dev answers (English)."""
    out = parity_rows()
    if DEV.exists():
        out += rows(DEV, language="en")
    return out


def label_changes(on, off, answers: list[dict]) -> list[tuple[str, str]]:
    """(language, id) of each answer the two judges label differently."""
    return [(r["language"], r["id"]) for r in answers
            if on.classify(r["response"], r["prompt"], r["language"]).label
            != off.classify(r["response"], r["prompt"], r["language"]).label]


def lexicon_kinds(lang: str, text: str) -> set[str]:
    """The lexicon kinds found in `text` by the lexicon the judge picks for an answer in `lang` (its
    script from the first 80 characters), on normalised text, as the judge matches."""
    from babelsafe.judges.answer_text import dominant_script, normalize, script_profile
    from babelsafe.judges.lexicon import answer_lexicon

    lex = answer_lexicon(dominant_script(script_profile(text[:80])), lang)
    return set(lex.index.find(normalize(text)))
