"""The opening ("early") windows of the refusal features count sentences, not characters, so a cue
sits in the opening of a translation exactly when it does in English."""
from __future__ import annotations

from babelsafe.judges.answer_language import answer_language
from babelsafe.judges.answer_text import dominant_script, normalize, script_profile
from babelsafe.judges.lexicon import answer_lexicon
from babelsafe.judges.refusal_features import FEATURES, HEAD, density, extract, opening_end

from judge_data import parity_rows

LECTURE_EARLY = FEATURES.index("lecture_early")


def test_opening_end_counts_sentences() -> None:
    text = 'It is "a punch." Then 3.5 kg, by J.K. Rowling! Third? Yes.'
    assert text[:opening_end(text, 1, 200, "L", 5)] == 'It is "a punch." '
    assert text[:opening_end(text, 2, 200, "L", 5)] == 'It is "a punch." Then 3.5 kg, by J.K. '  # initials break
    assert opening_end("一句。」二句。三句。", 2, 100, "H", 3) == len("一句。」二句。")
    assert opening_end("One.\n\n1. Two", 2, 100, "L", 3) == len("One.\n\n1. ")


def test_opening_end_falls_back_to_characters() -> None:
    assert opening_end("no punctuation at all in this one", 2, 20, "L", 7) == 7
    assert opening_end("ประโยคแรก. ประโยคที่สอง.", 1, 100, "T", 9) == 9  # Thai: the character window
    assert opening_end("One. and the rest goes on", 2, 12, "L", 3) == 12  # second sentence too long


def test_lecture_in_the_third_sentence_is_not_early() -> None:
    first = "Cats sleep a lot. They hunt at night. It is important to note that cats need water."
    assert not extract(first)[0][LECTURE_EARLY]
    assert extract("It is important to note that cats need water. They sleep a lot.")[0][LECTURE_EARLY]


def _first_cues(raw: str, lang: str) -> tuple[str | None, dict[str, tuple[int, str]]]:
    """(script, {kind: (start of its first cue in the head, the head)}) as extract() sees them."""
    raw = raw.strip()
    prof = script_profile(raw[:80])
    script = dominant_script(prof)
    code, _ = answer_language(raw[:100], prof, normalize(raw[:HEAD])[:100] if script == "L" else None, lang)
    head = normalize(raw[:int(HEAD / density(script, code))])
    hits = answer_lexicon(script, code).find(head)
    return script, {k: (hits[k][0][0], head) for k in ("refusal", "cannot", "premise") if hits.get(k)}


def test_a_decline_or_premise_cue_is_early_in_a_translation_exactly_when_in_english() -> None:
    """Dev rows of the parity set: wherever English and a translation both find a decline or a
    premise cue, it is in the opening of both or of neither (Thai keeps the character window)."""
    rows = [r for r in parity_rows() if r["split"] == "dev"]
    en = {r["id"]: _first_cues(r["response"], "en")[1] for r in rows if r["language"] == "en"}
    differ, compared = [], 0
    for r in rows:
        if r["language"] in ("en", "th"):
            continue
        script, cues = _first_cues(r["response"], r["language"])
        for kind, (pos, head) in cues.items():
            if kind not in en[r["id"]]:
                continue
            epos, ehead = en[r["id"]][kind]
            sentences = 1 if kind != "premise" else 2
            mine = pos < opening_end(head, sentences, len(head), script, len(head))
            theirs = epos < opening_end(ehead, sentences, len(ehead), "L", len(ehead))
            compared += 1
            if mine != theirs:
                differ.append((r["language"], r["id"], kind))
    assert compared > 500
    assert differ == []


def test_important_to_note_late_in_english_is_late_in_every_translation() -> None:
    """Dev answers whose lecture cue ("it is important to note ...") sat near the old character edge:
    lecture_early now agrees with English in every language but Thai."""
    ids = {"gpt4-v2-207", "gpt4-v2-308", "mistralinstruct-v2-141", "mistralinstruct-v2-314",
           "mistralinstruct-v2-367", "mistralinstruct-v2-434"}
    rows = [r for r in parity_rows() if r["id"] in ids and r["split"] == "dev"]
    assert {r["id"] for r in rows} == ids
    en = {r["id"]: extract(r["response"].strip(), prior="en")[0][LECTURE_EARLY] for r in rows if r["language"] == "en"}
    differ = [(r["language"], r["id"]) for r in rows if r["language"] not in ("en", "th")
              and extract(r["response"].strip(), prior=r["language"])[0][LECTURE_EARLY] != en[r["id"]]]
    assert differ == []


def _opening_end_finditer(text: str, sentences: int, limit: int, script: str | None, fallback: int) -> int:
    """opening_end as it was first written: finditer over the sentence-break pattern."""
    import babelsafe.judges.refusal_features as F

    if script == "T":
        return fallback
    k = 0
    for m in F._SENTENCE_BREAK.finditer(text, 0, limit):
        k += 1
        if k == sentences:
            return m.end()
    return limit if k else fallback


def test_opening_end_is_finditer_on_real_answers_and_fuzz() -> None:
    # opening_end searches break starts first (_BREAK_START): the same ends as finditer
    import random

    import babelsafe.judges.refusal_features as F

    texts = [normalize(r["response"][:HEAD]) for r in parity_rows()]
    rnd = random.Random(9)
    parts = [".", "..", "!", "?", "?!", "\n", "\n\n", " ", "a", "3.5", "j.k.", '"', "'", ")", "]", "»", "。", "」",
             "！", "？", "।", "؟", "』", "）", "word", "\t"]
    texts += ["".join(rnd.choice(parts) for _ in range(rnd.randint(0, 20))) for _ in range(5000)]
    for t in texts:
        for sentences in (1, 2, 3):
            for limit in (0, 5, 45, 180, len(t)):
                assert opening_end(t, sentences, limit, "L", 7) == _opening_end_finditer(t, sentences, limit, "L", 7), (t, sentences, limit)
    # every sentence break starts with one of _BREAK_START's characters
    every = "".join(chr(c) for c in range(0x3100) if not 0xD800 <= c < 0xE000) + "\uff01\uff09\uff1f"
    for c in every:
        if F._SENTENCE_BREAK.match(c + " "):
            assert F._BREAK_START.match(c), repr(c)


def test_sentence_end_is_the_regex_search() -> None:
    # sentence_end finds the first end character of ASCII text with str.find: the same as the search
    import random

    import babelsafe.judges.refusal_features as F

    assert {chr(c) for c in range(128) if F._SENTENCE_END.match(chr(c))} == set(F._END_ASCII)
    assert {chr(c) for c in range(0x110000) if F._SENTENCE_END.match(chr(c))} == set(F._END_ALL)
    texts = [r["response"] for r in parity_rows()] + [normalize(r["response"][:HEAD]) for r in parity_rows()]
    rnd = random.Random(4)
    parts = [".", "!", "?", "\n", " ", "a", "word", "3.5", "。", "！", "？", "।", "؟", "é", "ก", "ข "]
    texts += ["".join(rnd.choice(parts) for _ in range(rnd.randint(0, 20))) for _ in range(5000)]
    for t in texts:
        for limit in (-3, 0, 1, 7, 45, 200, len(t) + 5):
            m = F._SENTENCE_END.search(t, 0, limit)
            assert F._first_end(t, limit) == (m.end() if m else -1), (t, limit)
            for script in ("L", "T"):
                want = m.end() if m else limit
                if script == "T":
                    th = F._THAI_BREAK.search(t, 12, want)
                    want = th.end() if th else want
                assert F.sentence_end(t, limit, script) == want, (t, limit, script)
