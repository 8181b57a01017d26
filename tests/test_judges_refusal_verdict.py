"""The shortcuts of the refusal judge's verdict steps (judges/refusal_verdict.py, judges/relevance.py) give
exactly what the plain computations give: rounding, the boilerplate-offer search, the length gate of
the unrelated-output check, the cached language code. (Compiled vs pure Python verdicts:
test_judges_refusal_accel.py.)"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from babelsafe.judges import refusal_verdict as V
from babelsafe.judges import relevance as REL
from babelsafe.judges.answer_text import weighted_len
from babelsafe.judges.refusal import RefusalJudge

DATA = Path(__file__).parent / "data"


def _answers() -> list[str]:
    rows = [json.loads(line) for line in (DATA / "judge_labels.jsonl").open(encoding="utf-8") if line.strip()]
    rows += [json.loads(line) for line in (DATA / "judge_hard_cases.jsonl").open(encoding="utf-8") if line.strip()]
    for f in sorted((DATA / "judge_parity").glob("*.jsonl")):
        rows += [json.loads(line) for line in f.open(encoding="utf-8") if line.strip()][::5]
    return [r["response"] for r in rows if r.get("response")]


ANSWERS = _answers()


def test_round4_is_round_on_real_probabilities_random_values_and_ties() -> None:
    judge = RefusalJudge(unrelated=False, near_echo=False)
    values = []
    for a in ANSWERS:  # every probability the judge rounds on real answers
        v = judge.classify(a, "", "en")
        if v.label != "invalid":
            values += [*v.extra["probs"].values(), v.extra["p_refused"]]
    rnd = random.Random(5)
    values += [rnd.random() for _ in range(200_000)]
    values += [rnd.random() * 10.0 ** rnd.randint(-12, 8) for _ in range(50_000)]
    # ties and near-ties of the fourth decimal, and the edges
    values += [(k + 0.5) / 10000.0 for k in range(10000)] + [k / 20000.0 for k in range(20001)]
    values += [math.nextafter((k + 0.5) / 10000.0, d) for k in range(0, 10000, 7) for d in (0.0, 2.0)]
    values += [0.0, -0.0, 1.0, -0.25, 5e-5, 4.99999e-5, 1e-300, 1e9, 1e12, math.inf, -math.inf, 0.99995]
    for x in values:
        got, want = V.round4(x), round(x, 4)
        assert got == want and math.copysign(1, got) == math.copysign(1, want), x
    nan = V.round4(math.nan)
    assert nan != nan


_OFFER_PIECES = ("How can I help you", "how may i assist", "What may I do for you?", "I'm here to help",
                 "im here to support", "can i ", "may i", " to assist", "HERE TO HELP", "İ", "ı", "K", "ſ",
                 "here to", "what can i", " ", "\n", "x", "ß", "你好", "help you", "I'M HERE TO ASSIST")


def test_offer_prefilter_agrees_with_the_offer_regex() -> None:
    texts = [a[:REL.OFFER_MAX_CHARS] for a in ANSWERS]
    rnd = random.Random(7)
    for _ in range(20_000):
        texts.append("".join(rnd.choice(_OFFER_PIECES) for _ in range(rnd.randint(1, 8))))
    texts += ["How can İ help you?", "how ca\u212a i help you", "I'm here to \u017fupport you",
              "¿How can I help you?", "Как я могу помочь? How can I help you"]
    hits = 0
    for t in texts:
        want = REL._OFFER.search(t) is not None
        assert REL._offer(t) == want, t
        hits += want
    assert hits > 100  # the random texts hold offers


def test_length_gate_is_the_weighted_length_rule() -> None:
    rnd = random.Random(9)
    texts = list(ANSWERS) + [a[:rnd.randint(0, 400)] for a in ANSWERS]
    texts += ["中" * k + "a" * j for k in (0, 30, 33, 34, 99, 100, 101) for j in (0, 1, 2, 100, 299, 300)]
    for t in texts:
        for m in (REL.MIN_ANSWER_CHARS, REL.STRICT_MIN_CHARS):
            want = len(t) < m // 3 or weighted_len(t[:m]) < m
            assert REL.too_short(t, m) == want, (t[:40], m)


@pytest.mark.parametrize("code", ["en", "EN", "zh-CN", "pt_BR", "xx", "Klingon", "", None, "bn", "jv"])
def test_lang_code_cache_gives_the_uncached_code(code: str | None) -> None:
    from babelsafe import languages

    def plain(language: str | None) -> str | None:
        if not language:
            return None
        try:
            return languages.normalize(language)
        except Exception:
            return language.lower()

    assert V.lang_code(code) == plain(code)
    assert V.lang_code(code) == plain(code)  # from the cache


def test_rationale_and_language_match_cases() -> None:
    assert V.rationale({}, "full_compliance") == "full_compliance; no refusal cue"
    assert V.rationale({"decline": "", "soft": None}, "x") == "x; no refusal cue"
    ev = {"decline": "i can't", "tail": "sorry"}
    assert V.rationale(ev, "full_refusal") == "full_refusal; decline: \"i can't\"; tail: 'sorry'"
    assert V.language_match("ms", "id", "Latin") is True
    assert V.language_match("en", "de", "Latin") is False
    assert V.language_match("en", "en", "Latin") is True
    assert V.language_match("en", "und", "Latin") is None
    assert V.language_match("zh", None, "Han") is None
    assert V.language_match("ja", "zh", "Han") is True
    assert V.language_match("bn", "hi", "Devanagari") is False


def test_normalize_replacements_are_the_translate_table() -> None:
    import unicodedata

    from babelsafe import text as T

    assert not any(r and ord(r) in T._TRANSLATE for _, r in T._REPLACE)  # no replacement is itself a key

    def plain(s: str) -> str:
        if s.isascii():
            return s.lower()
        return unicodedata.normalize("NFKC", s).casefold().translate(T._TRANSLATE)

    keys = [chr(c) for c in T._TRANSLATE]
    rnd = random.Random(3)
    texts = list(ANSWERS)
    for _ in range(5000):
        texts.append("".join(rnd.choice(keys + ["a", "é", "ب", "ا", " ", "\u0627\u064e", "İ", "ẞ"])
                             for _ in range(rnd.randint(1, 30))))
    for t in texts:
        assert T.normalize(t) == plain(t), t[:40]
