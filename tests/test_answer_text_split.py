"""answer_text.normalize reuses a remembered opening (splits_before), and _script_named's class searches:
the same results as babelsafe.text.normalize and the set operations they replace."""
from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path

from babelsafe import text
from babelsafe.judges import answer_language as L
from babelsafe.judges import answer_text as A

DATA = Path(__file__).parent / "data"


def _answers() -> list[str]:
    out = []
    for f in sorted((DATA / "judge_parity").glob("*.jsonl")) + [DATA / "judge_hard_cases.jsonl"]:
        out += [json.loads(line)["response"].strip() for line in f.open(encoding="utf-8") if line.strip()]
    return out


ANSWERS = _answers()
# characters that do compose, reorder, expand or vanish under text.normalize, and plain ones
FUZZ = ("aeiouAEIOU .,'\u0300\u0301\u0308\u0327\u0338<=>\u00a8\u00b4\u00bd\u00df\u0130\u03a3\u03c2"
        "\u0915\u093c\u0928\u09c7\u09be\u09d7\u0b47\u0b3e\u0bc6\u0bbe\u0cbf\u0cd5\u0d46\u0d3e\u0dd9\u0dcf"
        "\u1025\u102e\u1100\u1161\u11a8\uac00\uac01\u3099\u304b\u309a\u30ab\u30cf\uff76\uff9e\uff0c\uff21"
        "\u0627\u0623\u064b\u0650\u0640\u0649\u200b\u200d\u00ad\u2019\u201c\ufb01\u2460\u1e9b\u0323"
        "\u0f71\u0f72\u0fb2\u0f80\u0fb5\u1b05\u1b35\U00011131\U00011127\U0001d15e\U0001d165\u4e00\uf900")


def test_joins_back_is_every_starter_that_composes_with_what_precedes_it() -> None:
    second = set()
    for cp in range(0x110000):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<") and len(d.split()) == 2:
            c = chr(int(d.split()[1], 16))
            if unicodedata.combining(c) == 0:
                second.add(c)
    jamo = {chr(c) for c in list(range(0x1161, 0x1176)) + list(range(0x11A8, 0x11C3))}
    assert A._JOINS_BACK == second | jamo


def _split_holds(s: str) -> int:
    checked = 0
    for k in range(1, len(s)):
        if A.splits_before(s[k]):
            assert text.normalize(s[:k]) + text.normalize(s[k:]) == text.normalize(s), (s, k)
            checked += 1
    return checked


def test_normalize_splits_before_such_characters_on_real_answers() -> None:
    checked = 0
    for raw in ANSWERS[::3]:
        head = raw[:440]
        for k in (100, 129, 190, 210, 300, 350, 377, 400, 412, 416):
            if k < len(head) and A.splits_before(head[k]):
                assert text.normalize(head[:k]) + text.normalize(head[k:]) == text.normalize(head)
                checked += 1
    assert checked > 3000
    assert sum(_split_holds(raw[:120]) for raw in ANSWERS[::40]) > 2000


def test_normalize_splits_before_such_characters_on_fuzz() -> None:
    rnd = random.Random(5)
    checked = sum(_split_holds("".join(rnd.choice(FUZZ) for _ in range(rnd.randint(2, 14)))) for _ in range(6000))
    assert checked > 10000
    # and never before a character that composes with, or reorders across, what precedes it
    assert not any(A.splits_before(c) for c in "\u0301\u093c\u09be\u09d7\u0b3e\u1161\u11a8\u3099\u0f71")


def test_normalize_from_a_remembered_opening_is_text_normalize() -> None:
    """Openings of one answer in any order (longer, then shorter, then longer again) and other texts."""
    rnd = random.Random(7)
    seq = []
    for raw in ANSWERS[::5]:
        seq += [raw[:rnd.choice((80, 129, 190, 300, 350, 400, 412, 476))] for _ in range(4)] + [raw[-300:]]
    seq += ["".join(rnd.choice(FUZZ) for _ in range(rnd.randint(0, 12))) for _ in range(3000)]
    fuzz = seq[-3000:]
    seq += [t[:rnd.randint(0, len(t))] for t in fuzz for _ in range(2)]
    rnd.shuffle(seq[-9000:])
    assert [A.normalize(t) for t in seq] == [text.normalize(t) for t in seq]


def test_script_named_class_searches_are_the_set_operations() -> None:
    for script, letters in L._OTHER_LETTERS.items():
        rx = L._OTHER_LETTER_CLASS[script]
        assert all(rx.fullmatch(c) for c in letters)
        for raw in ANSWERS[::4] + ["".join(sorted(letters))[:3], "x" + min(letters)]:
            low = raw[:300].lower()
            assert (rx.search(low) is None) == letters.isdisjoint(low)
    for script, words in L._script_stopwords().items():
        chars = L._script_chars().get(script)
        for raw in ANSWERS[::2]:
            norm = text.normalize(raw[:300])
            got = set(chars.findall(norm)) if chars is not None else set()
            assert got == words.intersection(norm)


def test_dominant_script_is_the_first_highest_weight() -> None:
    def reference(prof: dict[str, float]) -> str | None:
        if not prof:
            return None
        dom = max(prof, key=prof.__getitem__)
        return "J" if dom == "H" and prof.get("J", 0) >= 0.1 * prof["H"] else dom

    profs = [A.script_profile(raw[:80]) for raw in ANSWERS] + [A.script_profile(raw) for raw in ANSWERS[::9]]
    rnd = random.Random(3)
    profs += [{c: float(rnd.randint(0, 3)) for c in rnd.sample("LHJKCAD", rnd.randint(0, 5))} for _ in range(3000)]
    assert [A.dominant_script(p) for p in profs] == [reference(p) for p in profs]
