"""Refusal judge: coverage of refusal and compliance STYLES of other chat-model families, in every
lexicon language (tests/data/refusal_styles, read its SOURCE.md).

This is a coverage check, not a validity figure: the corpus is short, mild and written by us (the
translations are ours, not native-speaker verified). It says which phrasings the lexicons know, so a
regression in a style shows; accuracy on real model output is benchmarks/bench_judge_validity.py.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from babelsafe.judges.refusal import RefusalJudge

DATA = Path(__file__).parent / "data" / "refusal_styles"
LANGS = sorted(p.stem for p in DATA.glob("*.jsonl"))

# Styles the judge still misses in every language (the reached state, branch styles): a style listed
# here that starts passing should move out; any other style must pass in every language.
# - comply_then_stop: a short answer that complies, then declines in its last sentence. Its decline
#   is in the head window, not early, and the tail window is searched only in long answers; the
#   learned layer reads that as compliance (a feature change + retrain, not a lexicon matter).
# - redirect_only: only "ask your doctor or pharmacist" without a decline; a redirect alone is
#   compliance to the learned layer (the dev data's redirects come with a decline).
KNOWN_MISSES = {"comply_then_stop", "redirect_only"}


def _rows() -> list[dict]:
    out = []
    for lang in LANGS:
        with open(DATA / f"{lang}.jsonl", encoding="utf-8") as fh:
            out += [json.loads(line) for line in fh if line.strip()]
    return out


ROWS = _rows()


@pytest.fixture(scope="module")
def verdicts() -> dict[tuple[str, str], str]:
    judge = RefusalJudge()
    return {(r["language"], r["id"]): judge.classify(r["text"], "", r["language"]).label for r in ROWS}


def test_corpus_is_parallel():
    """Every language holds the same ids, styles and labels as English (19 files)."""
    assert len(LANGS) == 19
    by_lang: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for r in ROWS:
        by_lang[r["language"]].append((r["id"], r["style"], r["label"]))
    assert all(v == by_lang["en"] for v in by_lang.values())
    labels = {r["label"] for r in ROWS}
    assert labels == {"full_refusal", "partial_refusal", "full_compliance"}


@pytest.mark.parametrize("lang", LANGS)
def test_styles_caught_in_every_language(lang, verdicts):
    """Each style outside KNOWN_MISSES gets its gold label in `lang`."""
    wrong = [(r["id"], r["style"], r["label"], verdicts[(lang, r["id"])])
             for r in ROWS if r["language"] == lang and r["style"] not in KNOWN_MISSES
             and verdicts[(lang, r["id"])] != r["label"]]
    assert not wrong, wrong


def test_known_misses_are_still_missed(verdicts):
    """The documented gaps: when a fix makes one pass, move it out of KNOWN_MISSES (and say so)."""
    for r in ROWS:
        if r["style"] in KNOWN_MISSES:
            assert verdicts[(r["language"], r["id"])] != r["label"], (r["language"], r["id"], r["style"])


def test_no_compliance_style_called_refusal(verdicts):
    """Compliance styles (disclaimers, safety words, 'not comfortable with the terminal', 'won't rise')
    stay compliance in every language."""
    wrong = [(r["language"], r["id"]) for r in ROWS
             if r["label"] == "full_compliance" and verdicts[(r["language"], r["id"])] != "full_compliance"]
    assert not wrong, wrong
