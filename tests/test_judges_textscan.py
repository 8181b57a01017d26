"""The C text scans (babelsafe/judges/_textscan.c) give exactly what their Python versions give.

Every real answer available (the labelled rows, the parity set, the XSTest dev answers when beside the
repo), their heads and tails as the judge cuts them, and fuzz (random Unicode with surrogates, control
and combining characters, empty and huge texts). Skipped when the C module is not active, unless
BABELSAFE_REQUIRE_ACCEL=1 (CI) makes that a failure. The whole-verdict comparison of the compiled and
pure-Python judge is tests/test_judges_refusal_accel.py.
"""
from __future__ import annotations

import os
import random
import re
from array import array

import pytest

from babelsafe.judges import answer_language, answer_text, lexicon, refusal_features, textscan
from babelsafe.judges.lexicon import SCRIPT_GROUPS, NEIGHBOURS, answer_lexicon
from babelsafe.text import script_profile as script_profile_py

from judge_data import DATA, DEV, rows

C = textscan.C
if C is None and os.environ.get("BABELSAFE_REQUIRE_ACCEL", "") in ("", "0"):
    pytest.skip(f"C text scans not active: {textscan.STATUS}", allow_module_level=True)


def test_the_c_scans_are_active_when_required() -> None:
    assert C is not None, textscan.STATUS
    assert textscan.STATUS == "C"


def _real_texts() -> list[str]:
    files = [DATA / "judge_labels.jsonl", DATA / "judge_hard_cases.jsonl", DATA / "judge_labels_holdout.jsonl",
             *sorted((DATA / "judge_parity").glob("*.jsonl")), *sorted((DATA / "judge_unrelated").glob("*.jsonl"))]
    if DEV.exists():
        files.append(DEV)
    out: list[str] = []
    for f in files:
        if f.exists():
            for r in rows(f):
                out += [str(r.get("response") or ""), str(r.get("prompt") or "")]
    return out


def _fuzz(n: int, seed: int = 7) -> list[str]:
    """Random text: pieces of every script the judge knows, spaces of all kinds, digits of other scripts,
    list markers, lone surrogates, combining marks, repetition loops; empty and very long texts."""
    rnd = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCXYZ", "0123456789٠١٢٣٤٥٦٧٨٩०१२३", " \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000",
        ".)-*•#_'\"!?,;:…。？！", "éßİıñçœø", "привет", "مرحبا", "नमस्ते", "হ্যালো", "สวัสดี", "你好世界的", "こんにちはカタカナ",
        "안녕하세요", "Ωλ", "שלום", "\u0301\u0308\u064b\u200b\u200d\ufeff", "\ud800\udfff", "😀🙂𝔘𐍈", "step 1", "\n1. ",
        "\n- ", "\n## ", "I can't", "no puedo", "不能", "step", "ステップ2",
    ]
    out = ["", " ", "\n", "a", "\n1.", "\n12)", "\n123.", "\n#### x", "\n##### x", "\nstep 4", "x" * 50,
           "ab" * 400, "\ud800", "é" * 1000, "\n\n\n- \n", "\n \n 2)", "ha " * 300, "\U0001F600" * 100]
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(0, 40)):
            pool = rnd.choice(pools)
            parts.append("".join(rnd.choice(pool) for _ in range(rnd.randint(0, 12))) if rnd.random() < 0.6 else pool)
        text = "".join(parts)
        if rnd.random() < 0.1:
            text = text * rnd.randint(2, 60)  # loops
        if rnd.random() < 0.05:
            text = "".join(chr(rnd.randint(0, 0x10FFFF)) for _ in range(rnd.randint(0, 3000)))
        out.append(text)
    out.append("lorem ipsum dolor sit amet " * 20000)  # huge
    return out


TEXTS = _real_texts()
FUZZ = _fuzz(3000)


def _outcome(fn, *args):  # the result, or the exception's type (e.g. UnicodeEncodeError on surrogates)
    try:
        return fn(*args)
    except Exception as e:
        return type(e)


def test_there_are_real_answers() -> None:
    assert len(TEXTS) > 1000


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_degenerate(corpus: str) -> None:
    texts = TEXTS if corpus == "real" else FUZZ
    cuts = [s for t in texts for s in (t, t.strip(), t[-1200:], t[:160])]
    diffs = [t[:80] for t in cuts if _outcome(C.degenerate, t) != _outcome(answer_text._degenerate_py, t)]
    assert not diffs, f"{len(diffs)} differ, e.g. {diffs[:3]}"
    if corpus == "fuzz":  # the fuzz reaches both answers and the zlib step
        assert {answer_text._degenerate_py(t) for t in cuts if "\ud800" not in t} == {True, False}


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_deflate_floor_never_exceeds_zlib(corpus: str) -> None:
    """degenerate() skips zlib when C.deflate1_floor (a lower bound on the compressed size, in bits)
    shows the text cannot compress to 0.16 of its size: the bound must never exceed zlib's real size."""
    import zlib

    rnd = random.Random(3)
    texts = TEXTS if corpus == "real" else FUZZ
    datas = [t[-900:].encode("utf-8", "replace") for t in texts]
    if corpus == "fuzz":  # loops and small alphabets, where compression is best; random bytes, where worst
        datas += [bytes(rnd.choice(b"ab ") for _ in range(rnd.randint(0, 4096))) for _ in range(500)]
        datas += [(t[:rnd.randint(1, 30)] * 200).encode("utf-8", "replace")[:rnd.randint(3, 4096)] for t in TEXTS[:1000]]
        datas += [bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 4096))) for _ in range(100)]
    over = [(len(d), C.deflate1_floor(d) / 8, len(zlib.compress(d, 1))) for d in datas
            if C.deflate1_floor(d) / 8 > len(zlib.compress(d, 1))]
    assert not over, f"{len(over)} bounds over zlib's size, e.g. {over[:3]}"
    skipped = sum(C.deflate1_floor(d) / 8 >= 0.16 * len(d) for d in datas)
    if corpus == "real":  # the point: most real answers skip zlib
        assert skipped > 0.8 * len(datas)
    assert C.deflate1_floor(b"ab") == 0.0 and C.deflate1_floor(b"x" * 5000) == 0.0  # not bounded there


def _pairs(corpus: str) -> list[tuple[str, str]]:
    """(answer, prompt) pairs as near_echo compares them: real ones (their heads and normalised forms too)
    and fuzz (random pairs, and answers that repeat or cut their prompt)."""
    rnd = random.Random(5)
    if corpus == "real":
        texts = TEXTS
        pairs = [(texts[i], texts[i + 1]) for i in range(0, len(texts) - 1, 2)]
        pairs += [(answer_text.normalize(a[:400]), answer_text.normalize(p)) for a, p in pairs[:3000]]
    else:
        pairs = [(rnd.choice(FUZZ), rnd.choice(FUZZ)) for _ in range(1500)]
        pairs += [(p[:rnd.randint(0, len(p) + 1)] * rnd.randint(1, 4) + a[:50], p) for a, p in pairs[:1500]]
    return pairs + [(p, a) for a, p in pairs[:500]] + [("", "abc"), ("abcd", ""), ("ab", "ab"), ("abab", "ba")]


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_kgram_cover_and_hits(corpus: str) -> None:
    diffs = []
    for a, p in _pairs(corpus):
        for k in (2, 4):
            if answer_text._cover_c(a, p, k) != answer_text._cover_py(a, p, k):
                diffs.append(("cover", k, a[:40], p[:40]))
            if answer_text._tiles_c(a, p, k) != answer_text._tiles_py(a, p, k):
                diffs.append(("tiles", k, a[:40], p[:40]))
            if C.kgram_hits(a, p, k, 1) != sum(a[i:i + k] in p for i in range(len(a) - k + 1)):
                diffs.append(("hits", k, a[:40], p[:40]))
    assert not diffs, f"{len(diffs)} differ, e.g. {diffs[:3]}"
    assert answer_text._cover_c("x abc y", "abc", 2) == 3 / 7  # "ab", "bc": 3 characters


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_here_is(corpus: str) -> None:
    texts = TEXTS if corpus == "real" else FUZZ
    extra = ["here is", "Here's", "HERE IS", "here  is", "here'S", "therein", "here\u2019s", "heRe iS x", "here i",
             "here'", "h\u0130ere is", "\u212aere is"]
    cuts = [s for t in texts + extra for s in (t, t[:200], t.lower())]
    diffs = [t[:80] for t in cuts if C.here_is(t) != answer_text._here_is_py(t)]
    assert not diffs, f"{len(diffs)} differ, e.g. {diffs[:3]}"
    assert {C.here_is(t) for t in cuts} == {True, False}


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_stopword_votes(corpus: str) -> None:
    from babelsafe.text import stopword_index

    index = stopword_index()
    texts = TEXTS if corpus == "real" else FUZZ
    extra = ["qu'il l'a dit", "'' ' a''b '", "(the) \"and\" of, la: de?", "dell'arte e l'uomo", " ' ", "''"]
    heads = [h for t in texts + extra for h in (answer_text.normalize(t[:400]), answer_text.normalize(t[:100]), t[:100])]
    diffs = []
    for h in heads:
        for cap in (40, 3):
            c, py = C.stopword_votes(h, index, cap), answer_language._stopword_votes_py(h, index, cap)
            if c != py or list(c) != list(py):  # the same counts, in the same (first-vote) order
                diffs.append(h[:60])
    assert not diffs, f"{len(diffs)} differ, e.g. {diffs[:3]}"
    assert C.stopword_votes("x y", {"x": (), "y": ("en", "en")}, 40) == {"en": 2}


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_recurs(corpus: str) -> None:
    from babelsafe.judges import garble

    rnd = random.Random(9)
    texts = TEXTS if corpus == "real" else FUZZ
    cuts = [s for t in texts for s in (t[:garble.HEAD_CHARS], t[:299], t[:41], t[-500:])]
    # loops with variation, the texts garble looks for
    cuts += [" ".join(rnd.choice(["uno", "de", "los", "más", "Esto", "es", "x1"]) for _ in range(rnd.randint(5, 300)))
             for _ in range(500)]
    diffs = [t[:80] for t in cuts if C.recurs(t, garble.PROBE, garble.PROBES, garble.PROBE_HITS, garble.SHORT_TEXT,
                                              garble.LOOP_SPAN) != garble._recurs_py(t)]
    assert not diffs, f"{len(diffs)} differ, e.g. {diffs[:3]}"
    assert {garble._recurs_py(t) for t in cuts} == {True, False}


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_intruder_starts(corpus: str) -> None:
    from babelsafe.judges import garble
    from babelsafe.text import SCRIPT_OF_NAME

    rnd = random.Random(17)
    texts = TEXTS if corpus == "real" else FUZZ
    cuts = [s for t in texts for s in (t, t[-2000:])]
    if corpus == "fuzz":  # letters of two scripts interleaved: many matches, overlapping candidates
        pools = ["नमस्तेक", "হ্যালোক", "привет", "مرحبا", "สวัสดี", "안녕하세요", "Ωλγ", "שלום", "abc", "你好", "カタ", " .1"]
        cuts += ["".join(rnd.choice(rnd.choice(pools)) for _ in range(rnd.randint(0, 2000))) for _ in range(3000)]
        cuts += ["कaकaक", "कaaक", "मlटxक", "\U0001F600कaक"]
    diffs = []
    found = 0
    for script in SCRIPT_OF_NAME:
        for t in cuts:
            c, py = garble._intruder_starts_c(t, script), garble._intruder_starts_py(t, script)
            found += len(py)
            if c != py:
                diffs.append((script, t[:40]))
    assert not diffs, f"{len(diffs)} differ, e.g. {diffs[:3]}"
    assert found > 0


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_script_profile(corpus: str) -> None:
    texts = TEXTS if corpus == "real" else FUZZ
    for t in texts:
        for cut in (t, t[:80], t[:200], t[:600]):
            want = script_profile_py(cut)
            got = C.script_profile(cut)
            assert got == want and list(got) == list(want), cut[:80]  # same order: ties follow it


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_list_items(corpus: str) -> None:
    texts = TEXTS if corpus == "real" else FUZZ
    found = 0
    for t in texts:
        for end in (3000, 10, len(t), 0, -1, 10**9):
            want = len(answer_text._LIST_ITEM.findall(t, 0, end))
            assert C.list_items(t, end) == want, (t[:80], end)
            found += want
    assert found > 0


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_step_ends(corpus: str) -> None:
    texts = TEXTS if corpus == "real" else FUZZ
    found = 0
    for t in texts:
        for end in (3000, len(t), 5, 0, -2):
            want = refusal_features._step_ends_py(t, end)
            assert refusal_features._step_ends_c(t, end) == want, (t[:80], end)
            found += len(want)
    assert found > 0
    assert refusal_features.step_ends is refusal_features._step_ends_c


def _indexes() -> list:
    lexes = {answer_lexicon(s, None) for s in SCRIPT_GROUPS} | {answer_lexicon("L", c) for c in NEIGHBOURS}
    lexes.add(lexicon.get_lexicon(None))
    return [lx.index for lx in lexes]


@pytest.mark.parametrize("corpus", ["real", "fuzz"])
def test_trigger_scan(corpus: str) -> None:
    """Index._candidates (the triggers found, in order, and where each pattern's triggers occur) is the
    same with the C scan as with the regex scan."""
    texts = TEXTS if corpus == "real" else FUZZ[:1500]
    hits = 0
    for index in _indexes():
        ctrie = index._ctrie
        assert ctrie is not None or index._trie is None
        for t in texts:
            for cut in (answer_text.normalize(t[:400]) if "\ud800" not in t[:400] else t[:400], t):
                got = index._candidates(cut)
                index._ctrie = None
                try:
                    want = index._candidates(cut)
                finally:
                    index._ctrie = ctrie
                assert got == want, (cut[:80], got[0][:5], want[0][:5])
                hits += len(got[0])
    assert hits > 1000


def _trigger_trie_walk(triggers: dict[str, int]) -> tuple[bytes, bytes, bytes]:
    """The reference trigger_trie: nested dicts walked breadth first (the sorted-prefix build must
    give these exact tables)."""
    root: dict = {}
    for t in triggers:
        node = root
        for ch in t:
            node = node.setdefault(ch, {})
        node[""] = triggers[t]
    nodes, edges = array("i"), array("i")
    order = [root]
    k = 0
    while k < len(order):
        node = order[k]
        kids = sorted((ord(ch), child) for ch, child in node.items() if ch)
        nodes.extend((node.get("", -1), len(edges) // 2, len(kids)))
        for cp, child in kids:
            edges.extend((cp, len(order)))
            order.append(child)
        k += 1
    bloom = bytearray(8192)
    for ch in root:
        if ch:
            b = ord(ch) & 0xFFFF
            bloom[b >> 3] |= 1 << (b & 7)
    return nodes.tobytes(), edges.tobytes(), bytes(bloom)


def test_trigger_trie_tables_are_the_dict_walks(monkeypatch) -> None:
    """trigger_trie (from sorted prefixes) == the nested-dict walk, for every lexicon group's triggers
    (each group built afresh) and for random trigger sets (shared prefixes, astral and combining
    characters, one-character triggers)."""
    from babelsafe.judges import lexicon_index

    seen: list[dict[str, int]] = []
    real = textscan.trigger_trie
    monkeypatch.setattr(lexicon_index, "trigger_trie", lambda trig: seen.append(dict(trig)) or real(trig))
    groups = {tuple(c for c in codes if lexicon._raw_lexicon(c) is not None) + ("en",) for codes in SCRIPT_GROUPS.values()}
    groups |= {codes + ("en",) for codes in NEIGHBOURS.values()} | {lexicon.lexicon_languages()}
    for codes in sorted(groups):
        lexicon._build.__wrapped__(codes, "+".join(codes))
    if textscan.C is not None:
        assert len(seen) >= len(groups) - 1  # (a group may scan no trigger)
    rng = random.Random(5)
    alphabet = "abcdeé\u0301zぁ中\U0001F600 -'"
    for _ in range(300):
        words = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 60))}
        seen.append({w: i for i, w in enumerate(rng.sample(sorted(words), len(words)))})
    assert sum(len(t) for t in seen) > 10000
    for trig in seen:
        assert real(trig) == _trigger_trie_walk(trig)
    assert real({"x" * (textscan.MAX_TRIGGER + 1): 0}) is None and real({"": 0}) is None


_tables = textscan.trigger_trie({"xy": 0})


def test_malformed_trie_tables_never_read_out_of_bounds() -> None:
    nodes, edges, bloom = _tables
    assert C.scan_triggers("axy xy", nodes, edges, bloom, ("T",), True) == [(4, "T")]
    assert C.scan_triggers("axy xy", nodes, edges, bloom, ("T",), False) == [(1, "T"), (4, "T")]
    assert C.scan_triggers("xy", nodes, edges, bloom, (), True) == []  # rank beyond the entries
    bad = array("i", [0, 1000, 5, 7, -3, 1]).tobytes()  # edges past the end, a negative count
    assert C.scan_triggers("xy" * 10, bad, edges, bloom, ("T",), True) == []
    wild = array("i", [120, 99, 121, -1]).tobytes()  # children outside the node table
    assert C.scan_triggers("xy" * 10, nodes, wild, bloom, ("T",), False) == []


def test_bad_arguments_raise_instead_of_crashing() -> None:
    for fn, args in ((C.degenerate, (None,)), (C.degenerate, (b"x",)), (C.script_profile, (3,)),
                     (C.list_items, ("x",)), (C.list_items, (b"x", 3)), (C.scan_triggers, ("x", b"", b"", b"", (), True)),
                     (C.scan_triggers, ("x", *_tables, [], True))):
        with pytest.raises((TypeError, ValueError)):
            fn(*args)


# (function, arguments, exception, its message): the argument checks _textscan.c shares (ustr_arg,
# ustr_view, kgram_args) say exactly what each function said before they were factored out
_BAD_CALLS = [
    ("degenerate", (None,), TypeError, "degenerate() needs a str"),
    ("degenerate", (b"x",), TypeError, "degenerate() needs a str"),
    ("script_profile", (3,), TypeError, "script_profile() needs a str"),
    ("here_is", (["x"],), TypeError, "here_is() needs a str"),
    ("deflate1_floor", ("x",), TypeError, "a bytes-like object is required, not 'str'"),
    ("list_items", (b"x", 3), TypeError, "argument 1 must be str, not bytes"),
    ("list_items", ("x", "3"), TypeError, "'str' object cannot be interpreted as an integer"),
    ("step_ends", ("a1", 3, None), TypeError, "argument 3 must be str, not None"),
    ("kgram_cover", ("abc", b"abc", 2), TypeError, "argument 2 must be str, not bytes"),
    ("kgram_cover", ("abc", "abc", 0), ValueError, "k must be 1..64 and step >= 1"),
    ("kgram_cover", ("abc", "abc", 65), ValueError, "k must be 1..64 and step >= 1"),
    ("kgram_hits", ("abc", "abc", 2, 0), ValueError, "k must be 1..64 and step >= 1"),
    ("kgram_hits", ("abc", "abc", 2), TypeError, "function takes exactly 4 arguments (3 given)"),
    ("recurs", (None, 3, 4, 2, 100, 50), TypeError, "argument 1 must be str, not None"),
    ("recurs", ("x" * 50, 0, 4, 2, 100, 50), ValueError, "probe must be >= 1 and probes >= 0"),
    ("intruders", ("abc", 3, b"x"), ValueError, "the intruder table must be 65536 bytes"),
    ("intruders", ("abc", 3, "x"), TypeError, "argument 3 must be bytes, not str"),
    ("stopword_votes", ("a b", [], 5), TypeError, "argument 2 must be dict, not list"),
    ("scan_triggers", (1.5, *_tables, ("T",), True), TypeError, "scan_triggers(str, bytes, bytes, bytes, tuple, by_word)"),
]


@pytest.mark.parametrize("name, args, exc, message", _BAD_CALLS)
def test_wrong_arguments_give_these_exact_errors(name: str, args: tuple, exc: type, message: str) -> None:
    with pytest.raises(exc) as info:
        getattr(C, name)(*args)
    assert str(info.value) == message


def test_end_is_clamped_to_the_text_and_a_negative_end_scans_nothing() -> None:
    text = "\n1. a\n- b step 1 step 2 x\u0416y"
    table = bytearray(0x10000)
    table[ord("x")] = table[ord("y")] = 1
    table[0x416] = 2
    for end in (-5, -1, 0, 3, len(text), 10**6):
        assert C.list_items(text, end) == len(answer_text._LIST_ITEM.findall(text, 0, max(end, 0)))
        assert C.step_ends(text, end, "p") == [m.end() for m in re.finditer(r"\d(?:(?<=[p]\d)|(?<=[p]\s\d))",
                                                                              text[:max(end, 0)])]
        assert C.intruders(text, end, bytes(table)) == ([len(text) - 3] if end >= len(text) else [])
    # no k-gram in one of the two texts: 0 (no table is built)
    assert (C.kgram_cover("", "abc", 2), C.kgram_hits("abc", "", 2, 1), C.kgram_cover("ab", "abc", 3)) == (0, 0, 0)


def test_list_item_regex_is_the_one_the_c_scan_reproduces() -> None:
    # _textscan.c hard-codes this pattern: a change here needs a change there
    assert answer_text._LIST_ITEM.pattern == r"\n\s*(?:\d{1,2}[.)]|[-*•]|#{1,4} |step \d)"
    assert answer_text._LIST_ITEM.flags == re.UNICODE
