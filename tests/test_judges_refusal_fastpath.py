"""The refusal judge's fast paths give exactly what the plain computations give (no timing here).

Each shortcut taken for speed (the trigger scan of lexicon_index.Index and its start-string tries, the
digit-led count of inline steps, the translate-based script profile, the stop-word vote, the "no
words" regex, the code rule's case-insensitive "here is") is checked against the straightforward
computation it replaces, on real answers in every language (the hard cases and a sample of the parity
set) and on edge cases. The judge's verdicts are compared end to end with the reference matcher too.
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from babelsafe import text as T
from babelsafe.judges import answer_text as A
from babelsafe.judges import lexicon as L
from babelsafe.judges import refusal_features as F
from babelsafe.judges.answer_language import answer_language
from babelsafe.judges.answer_text import normalize
from babelsafe.judges import lexicon_index as LI
from babelsafe.judges.lexicon_index import Index
from babelsafe.judges import refusal as R
from babelsafe.judges.refusal import RefusalJudge

DATA = Path(__file__).parent / "data"


def _rows() -> list[dict]:
    rows = [json.loads(line) for line in (DATA / "judge_hard_cases.jsonl").open(encoding="utf-8") if line.strip()]
    for f in sorted((DATA / "judge_parity").glob("*.jsonl")):
        lines = [line for line in f.open(encoding="utf-8") if line.strip()]
        rows += [json.loads(line) for line in lines[::7]]  # every 7th row: all classes, every language
    return rows


ROWS = _rows()
EDGE = ["no", "no.", "not now", "No, I can't.", "i", "i can't", "can't can't can't", "'i can't", "x" * 500,
        "sorry,i can't help", "(sorry) i cannot", "_sorry i can't", "抱歉", "我不", "不", "ไม่", "", " ",
        "je ne peux pas", "no puedo... no", "kann ich nicht", "Step 1 step 2 ſtep 3 ÉTAPE 4 шаг5 步骤6"]


def _lexicons() -> list[L.Lexicon]:
    return [L.script_lexicon(s) for s in L.SCRIPT_GROUPS] + [L.answer_lexicon("L", c) for c in L.NEIGHBOURS]


def _texts() -> list[str]:
    out = []
    for r in ROWS:
        raw = r["response"].strip()
        out += [normalize(raw[:F.HEAD]), normalize(raw[-F.TAIL:])]
    return out + [normalize(e) for e in EDGE]


@pytest.mark.parametrize("lex", _lexicons(), ids=lambda lx: lx.code)
def test_trigger_scan_finds_what_the_word_walk_finds(lex):
    for text in _texts():
        assert lex.index.find(text) == lex.index.find_reference(text), (lex.code, text[:80])


def test_index_on_synthetic_triggers():
    # triggers inside triggers, whole short words, non-word starts, one-character triggers (unspaced)
    items = [("refusal", r"\bi can't\b"), ("cannot", r"\bcan't"), ("short_no", r"\bno\b"), ("lecture", r"\bnot\b"),
             ("apology", r"\(sorry\)"), ("refusal", r"^sorry"), ("pivot", r"\bsorry,? i"), ("contrast", "不"),
             ("redirect", "我不能")]
    rnd = random.Random(7)
    pieces = ["i can't", "can't", "no", "not", "(sorry)", "sorry", ",", " ", "x", "_", "不", "我不能", "'"]
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12))) for _ in range(3000)]
    for by_word in (True, False):
        ix = Index(items, by_word=by_word)
        for t in texts:
            assert ix.find(t) == ix.find_reference(t), (by_word, t)


def test_start_strings_hold_for_every_lexicon_match():
    # every match of a pattern starts with one of its start strings (the windows' anchored tries rely
    # on it), on real answers in every language
    text = "\n".join(_texts())  # a property of each pattern: any text will do, the more the better
    patterns = {p for lex in _lexicons() for p in lex.index.patterns}
    checked = 0
    for pat in sorted(patterns):
        starts = LI._starts(pat)
        if not starts:
            continue
        for m in LI.compiled(pat).finditer(text):
            assert text.startswith(tuple(starts), m.start()), (pat, m.group(0))
            checked += 1
    assert checked > 1000


def test_start_regexes_on_synthetic_patterns():
    # patterns whose matches do not start with their trigger: optional words first, short starts,
    # starts inside other starts
    items = [("refusal", r"\bno,? i can't"), ("cannot", r"\b(?:je )?(?:ne|pas) peux"), ("lecture", r"(?:ab|abc)d+ x"),
             ("pivot", r"\b(?:but|however),? (?:i )?can tell"), ("premise", r"(?:no|not) (?:\S+ ){0,2}?right"),
             ("apology", r"\b(?:sorry|so) (?:but )?no")]
    assert all(LI._starts(p) for _, p in items)
    rnd = random.Random(11)
    pieces = ["no", ",", " ", "i can't", "je ", "ne", "pas", " peux", "ab", "abc", "d", " x", "but", "however",
              "i ", "can tell", "not", "right", "sorry", "so", "x", "_"]
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 16))) for _ in range(4000)]
    for by_word in (True, False):
        ix = Index(items, by_word=by_word)
        for t in texts:
            assert ix.find(t) == ix.find_reference(t), (by_word, t)


def test_inline_steps_counts_like_findall():
    rnd = random.Random(3)
    parts = ["step", "Step", "STEP", "ſtep", " ", "  ", "1", "23", "a", "\n", "étape", "ÉTAPE", "шаг", "ШАГ",
             "步骤", "ステップ", "단계", "ขั้นตอนที่", "schritt", "x", "٣"]
    texts = [r["response"] for r in ROWS] + EDGE
    texts += ["".join(rnd.choice(parts) for _ in range(rnd.randint(1, 14))) for _ in range(5000)]
    for t in texts:
        for end in (F.BODY, 9, 14):
            assert F.inline_steps(t, end) == len(F._INLINE_STEPS.findall(t, 0, end)), (t, end)


def test_step_last_letters_are_all_that_ignorecase_matches():
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    body = F._INLINE_STEPS.pattern
    assert body.startswith("(?:") and body.endswith(r")\s?\d")
    words = [w.replace(r"\b", "") for w in body[3:-len(r")\s?\d")].split("|")]
    assert len(words) == 13 and all(w and "\\" not in w for w in words), words  # (passo twice)
    found = set()
    for last in {w[-1] for w in words}:
        found |= set(re.findall(re.escape(last), every, re.IGNORECASE))
    assert found == set(F.STEP_LAST_LETTERS)


def _profile_reference(text: str) -> dict[str, float]:
    if text.isascii():
        n = sum(1 for ch in text if ch.isalpha())
        return {"L": float(n)} if n else {}
    table = T._script_table()
    out: dict[str, float] = {}
    for ch, k in Counter(text).items():
        code = table.get(ord(ch))
        if code is not None and code in T.SCRIPT_NAME:
            out[code] = out.get(code, 0.0) + k * T._SCRIPT_WEIGHT.get(code, 1.0)
    return out


def test_alnum_pattern_is_str_isalnum():
    # the judge's "no words" test: one regex search instead of isalnum() per character
    for c in range(0x110000):
        ch = chr(c)
        assert (R._ALNUM.match(ch) is not None) == ch.isalnum(), hex(c)


def test_has_code_matches_lowercase_rule():
    # "here is" / "here's" found without lowering the whole answer: no non-ASCII character lower-cases
    # to one of their letters, but "İ", whose "i" comes with a combining dot (never "here is")
    for c in range(0x80, 0x110000):
        low = chr(c).lower()
        assert c == 0x130 or not set(low) & set("heris' "), hex(c)
    assert "İ".lower() == "i\u0307"
    rnd = random.Random(13)
    parts = ["here is", "Here's", "HERE IS", "here  is", "herе is", "İs", "here İs", "python", "Python", "JAVA",
             "c program", "shell script", "```", " ", "x", "\n", "here", " is"]
    texts = [r["response"] for r in ROWS] + EDGE
    texts += ["".join(rnd.choice(parts) for _ in range(rnd.randint(0, 10))) for _ in range(5000)]
    for t in texts:
        low = t.lower()
        want = t.count("```") > 1 or (("here is" in low or "here's" in low)
                                      and any(w in low for w in ("python", "javascript", "java", "c program",
                                                                 "c++ program", "shell script")))
        assert A.has_code(t) == want, t


def test_script_profile_matches_per_character_lookup():
    rnd = random.Random(5)
    texts = [r["response"][:200] for r in ROWS] + EDGE
    texts += ["".join(chr(rnd.randint(0, 0x7F)) for _ in range(rnd.randint(0, 90))) for _ in range(2000)]
    texts += ["".join(chr(rnd.randint(0, 0xFFFF)) for _ in range(rnd.randint(0, 60))) for _ in range(2000)]
    for t in texts:
        got, want = T.script_profile(t), _profile_reference(t)
        assert got == want and list(got) == list(want), t  # same order too: ties go to the first script


def _vote_reference(head: str) -> dict[str, int]:
    index = T.stopword_index()
    votes: dict[str, int] = {}
    for w in head.replace("'", "' ").split()[:40]:  # an elision (qu'il, l'eau) splits off its word
        w = w.strip(".,;:!?\"'()")
        for c in index.get(w, ()):
            votes[c] = votes.get(c, 0) + 1
    return votes


def _language_reference(votes: dict[str, int], prior: str | None) -> str:
    """answer_language's rule, spelt out: a clear leader; else the leader when the voters (or, with
    2+ votes, the close rivals) are its lexicon neighbours, an exact tie going to the prior; else und."""
    best = max(votes, key=votes.__getitem__)
    top = votes[best]
    others = {c: v for c, v in votes.items() if c != best}
    if top >= 2 and top >= 1.5 * max(others.values(), default=0):
        return best
    near = L.NEIGHBOURS.get(best, ())
    close = [c for c, v in others.items() if 1.5 * v > top]
    if all(c in near for c in others) or (top >= 2 and all(c in near for c in close)):
        return prior if prior in others and others[prior] == top else best
    return "und"


def test_stop_word_vote_matches_word_loop():
    for r in ROWS:
        head = normalize(r["response"].strip()[:400])[:100]
        votes = _vote_reference(head)
        if not votes:
            continue
        prof = T.script_profile(r["response"].strip()[:80])
        if prof and max(prof, key=prof.__getitem__) == "L":
            for prior in (None, r["language"]):
                want = _language_reference(votes, prior)
                assert answer_language(r["response"].strip()[:100], prof, head, prior)[0] == want


def test_malay_and_indonesian_are_told_apart_or_follow_the_prompt():
    """ms/id share most stop words: a word of one alone decides; an exact tie follows the prompt."""
    ms = normalize("Saya tidak percaya bahawa perkara ini patut dilakukan kerana ia salah.")
    idn = normalize("Saya tidak percaya bahwa hal ini harus dilakukan karena itu salah.")
    assert answer_language(ms, None, ms)[0] == "ms"
    assert answer_language(idn, None, idn)[0] == "id"
    both = normalize("Maaf, tetapi saya tidak dapat membantu dalam hal itu.")
    assert answer_language(both, None, both, "ms")[0] == "ms"
    assert answer_language(both, None, both, "id")[0] == "id"
    assert answer_language(both, None, both)[0] in ("id", "ms")  # no prompt language: either, not und
    mixed = normalize("Der Hund und die Katze: the dog and the cat.")
    assert answer_language(mixed, None, mixed)[0] == "und"  # unrelated languages: still und


def test_verdicts_same_with_reference_matcher(monkeypatch):
    judge = RefusalJudge()
    fast = [judge.classify(r["response"], r["prompt"], r["language"]) for r in ROWS]
    monkeypatch.setattr(Index, "find", Index.find_reference)
    slow = [judge.classify(r["response"], r["prompt"], r["language"]) for r in ROWS]
    for r, a, b in zip(ROWS, fast, slow):
        assert (a.label, a.score, a.extra, a.rationale) == (b.label, b.score, b.extra, b.rationale), r["id"]


def test_lexicon_compiles_lazily():
    lex = L._build(("de", "en"), "test-lazy")
    assert not lex._compiled and all(rx is None for rx in lex.index._rx)
    assert lex.refusal is not None and re.compile(lex.refusal.pattern)  # a kind on demand
    assert lex.search("refusal", normalize("Es tut mir leid, aber dabei kann ich nicht helfen."))


def test_alternation_start_strings_and_trigger_tries():
    # start strings found inside alternations (\b(?:x|y\w*|z (?:a|b))), after lookarounds, through a
    # repeat of at least one; patterns whose every start string begins with a trigger are tried only at
    # the scan's trigger positions: the same spans as the reference walk either way
    items = [("lecture", r"\b(?:not ok|illegal|discriminat\w*|never (?:fine|right))"),
             ("refusal", r"(?<!x )\b(?:no|nope) (?:way|chance)\b"), ("pivot", r"\b(?:but|yet)+ here"),
             ("contrast", r"(?:(?<=, )|(?<=,))but\b"), ("premise", r"\b(?:not|never) (?:\S+ )?right\b")]
    assert LI._starts(items[0][1]) == {"not ok", "illegal", "discriminat", "never fine", "never right"}
    assert LI._starts(items[1][1]) == {"no way", "no chance", "nope way", "nope chance"}
    assert LI._starts(items[2][1]) == {"but", "yet"}
    assert LI._starts(r"(?:a\w|b)c") == {"a", "b"}  # (one character: too short for a start trie)
    assert LI._starts(r"(?:a\w|\w)c") is None  # a branch with no literal start
    rnd = random.Random(5)
    pieces = ["not ok", "illegal", "discriminat", "discriminatory", "never ", "fine", "right", "no", "nope", " way",
              " chance", "x ", "but", "yet", " here", ", ", ",", "not ", "very ", "_", "a", " "]
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 14))) for _ in range(4000)]
    for by_word in (True, False):
        ix = Index(items, by_word=by_word)
        if by_word:
            assert ix.at_trigger[0]  # its start strings are its triggers, inside the alternation
        for t in texts:
            assert ix.find(t) == ix.find_reference(t), (by_word, t)


def test_answer_text_normalize_remembers_texts_without_changing_results() -> None:
    """answer_text.normalize keeps the last two texts (a verdict normalises the same opening up to three
    times): whatever the order of calls, it returns what babelsafe.text.normalize returns."""
    import random

    from babelsafe import text
    from babelsafe.judges import answer_text

    pool = ["Ça VA bien", "ÇA VA BIEN", "ﬁne", "hello", "Hello", "", "ＡＢＣ", "كَتَبَ", "İstanbul", "ß"]
    rnd = random.Random(11)
    seq = [rnd.choice(pool) for _ in range(400)] + pool + pool[::-1]
    assert [answer_text.normalize(t) for t in seq] == [text.normalize(t) for t in seq]
    assert answer_text.normalize("ＡＢＣ") == "abc" and answer_text.normalize("Ça") == "ça"
