"""The lexicon index's start-up shortcuts build exactly what the plain steps built.

lexicon_index builds its regex tries from sorted words (not a trie of nested dicts), the trigger scan's
regex trie only on first use, and compiles a pattern already parsed for its triggers from that parse
tree (not by re.compile parsing it again). Each must give the same string / the same regex as before,
for every lexicon group and on random word sets.
"""
from __future__ import annotations

import random
import re

import pytest

from babelsafe.judges import lexicon, lexicon_index
from babelsafe.judges.lexicon import NEIGHBOURS, SCRIPT_GROUPS, answer_lexicon
from babelsafe.judges.lexicon_index import Index, compiled, trie_regex, trie_regex_walk


def _indexes() -> list[Index]:
    lexes = {answer_lexicon(s, None) for s in SCRIPT_GROUPS} | {answer_lexicon("L", c) for c in NEIGHBOURS}
    lexes.add(lexicon.get_lexicon(None))
    return [lx.index for lx in sorted(lexes, key=lambda lx: lx.code)]


def test_trie_regex_is_the_nested_dict_walk_on_every_lexicon_group() -> None:
    sets = 0
    for index in _indexes():
        keys = {t[:index.KEY] for t in index.ext}
        assert trie_regex(keys) == trie_regex_walk(keys)
        for pat in index.patterns:
            starts = lexicon_index._starts(pat)
            trig = lexicon_index._triggers(pat)
            for words in (starts, trig):
                if words:
                    assert trie_regex(words) == trie_regex_walk(words), pat
                    sets += 1
    assert sets > 3000


def test_trie_regex_is_the_nested_dict_walk_on_random_sets() -> None:
    rng = random.Random(11)
    alphabet = "abcdeé\u0301zぁ中\U0001F600 -'.*(\\"
    cases: list[set[str]] = [set(), {""}, {"", "a"}, {"a"}, {"ab", "a", "abc"}, {"x.y", "x*y", "x"}]
    for _ in range(2000):
        size = rng.randint(0, 60)
        cases.append({"".join(rng.choice(alphabet) for _ in range(rng.randint(0 if rng.random() < 0.05 else 1, 9)))
                      for _ in range(size)})
    for words in cases:
        got = trie_regex(words)
        assert got == trie_regex_walk(words), words
        assert trie_regex(frozenset(words)) == got


def test_the_trigger_scan_trie_built_on_first_use_is_the_old_one() -> None:
    for index in _indexes():
        keys = {t[:index.KEY] for t in index.ext}
        want = trie_regex_walk(keys) if keys else None
        assert index._trie == want
        assert index._trie == want  # built once, then kept


def test_patterns_compiled_from_their_parse_tree_are_re_compile_s() -> None:
    assert lexicon_index._TREE_COMPILE  # on the Pythons the project supports, the shortcut is active
    n = 0
    for index in _indexes():
        for i, pat in enumerate(index.patterns):
            got, want = index.regex(i), re.compile(pat)
            assert got == want, pat  # same pattern, flags and compiled code
            assert (got.pattern, got.flags, got.groups, got.groupindex) == (want.pattern, want.flags, want.groups,
                                                                            want.groupindex)
            n += 1
    assert n > 4000
    # compiling left every parse tree as a fresh parse gives it (the analyses read them afterwards)
    for pat, tree in list(lexicon_index._TREES.items())[:400]:
        assert repr(tree.data) == repr(lexicon_index._sre_p.parse(pat).data)
        assert tree.state.flags == lexicon_index._sre_p.parse(pat).state.flags


@pytest.mark.parametrize("pattern", [r"(a)(?P<b>b)\2", r"(?i)caf[ée]", r"\bno\b(?=\s)", r"[^\W\d]+"])
def test_compiled_from_a_tree_matches_like_re_compile(pattern: str) -> None:
    tree = lexicon_index._sre_p.parse(pattern)
    got = lexicon_index._from_tree(pattern, tree)
    want = re.compile(pattern)
    assert got == want and got.flags == want.flags and got.groupindex == want.groupindex
    for text in ("abb", "Café CAFE", "say no now", "héllo 42"):
        assert [m.span() for m in got.finditer(text)] == [m.span() for m in want.finditer(text)]


def test_compiled_falls_back_to_re_compile(monkeypatch) -> None:
    pat = r"\bpeux pas (?:aider|faire)"
    lexicon_index._parsed(pat)
    monkeypatch.setattr(lexicon_index, "_TREE_COMPILE", False)
    compiled.cache_clear()
    try:
        assert compiled(pat) == re.compile(pat)
        with pytest.raises(re.error):
            compiled("(unclosed")
    finally:
        compiled.cache_clear()
