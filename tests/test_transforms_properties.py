"""Property tests for transforms: an attack either applies (the text really changes the promised way) or
is skipped with a reason; never a silent no-op (issue 13, item 2 and the search for more of its kind)."""
from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from babelsafe.transforms.base import first_probe
from babelsafe.transforms.ciphers import MORSE, Ascii, Atbash, Base64, Caesar, Hex, Morse
from babelsafe.transforms.codeswitch import CodeSwitch, segment
from babelsafe.transforms.longcontext import LongContext, approx_tokens
from babelsafe.transforms.quality import reject_reason
from babelsafe.transforms.transliterate import Transliterate, romanize
from babelsafe.types import Sample

ANY_TEXT = st.text(min_size=1, max_size=120)


def probe(text: str, lang: str = "en"):
    return first_probe(Sample(dataset="toy", id="1", language=lang, prompt=text))


def apply(t, text, lang="en"):
    (p,) = asyncio.run(t.apply(probe(text, lang), None))
    return p


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT, st.sampled_from([Caesar(3), Caesar(13), Atbash(), Morse()]))
def test_letter_ciphers_apply_or_skip_never_half(text, cipher):
    p = apply(cipher, text)
    if "transform_skipped" in p.meta:
        assert p.meta["transform_error"].startswith(f"{cipher.name}: not applicable")
        return
    encoded = p.chain[-1]["params"]["encoded"]
    letters = [c for c in text if c.isalpha()]
    if letters:
        readable = sum(1 for c in letters if not cipher.can_encode(c))
        assert readable <= 0.1 * len(letters)  # at most 10% of the letters left as written
        if any(cipher.can_encode(c) for c in letters):
            assert encoded != text


WORDS = ("the bread dough needs flour water salt and yeast then you knead it for ten minutes let it rise "
         "in a warm place and bake it in a hot oven until the crust is golden").split()


@given(st.lists(st.sampled_from(WORDS), min_size=4, max_size=30), st.integers(1, 25))
def test_caesar_and_atbash_round_trip_on_english_answers(words, shift):
    # decoding keeps whichever of (answer, decoded answer) reads more like natural text: stop words, then
    # letter frequencies. Exact for sentences with a function word; a bare word list ("warm warm warm")
    # can still be taken for cipher text.
    text = " ".join(words + ["and", "it"]).capitalize() + "."
    for c in (Caesar(shift), Atbash()):
        assert c.decode_text(c.encode(text)) == text
        assert c.decode_text(text) == text  # a plain answer is left alone


@given(st.text(alphabet="".join(k for k in MORSE if len(k) == 1 and k.isalnum()) + " ", max_size=60))
def test_morse_round_trip_up_to_case_and_spaces(text):
    m = Morse()
    words = text.split()
    if sum(len(w) for w in words) < 2:
        return
    assert m.decode_text(m.encode(text)).split() == words


@settings(deadline=None)
@given(st.text(min_size=8, max_size=120).filter(lambda s: s.isprintable()), st.sampled_from([Ascii(), Hex(), Base64()]))
def test_byte_encodings_encode_every_script_exactly(text, enc):
    # (answers under 8 characters may be left as written by the decoders: too short to tell)
    p = apply(enc, text)
    assert "transform_error" not in p.meta
    assert enc.decode_text(p.chain[-1]["params"]["encoded"]) == text


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_transliterate_romanises_or_skips(text):
    p = apply(Transliterate(backend="table"), text)
    if "transform_skipped" in p.meta:
        return
    out, unmapped, _ = romanize(text, "table")
    assert p.prompt_text == out and p.prompt_text != text


@given(st.text(alphabet=st.characters(categories=["L", "Zs", "P"]), max_size=100), st.floats(0.0, 1.0),
       st.sampled_from(["word", "phrase"]), st.integers(0, 5))
def test_codeswitch_selects_the_promised_share_of_units(text, ratio, level, seed):
    cs = CodeSwitch(lang="sw", ratio=ratio, level=level, target="x")
    spans = cs.select(text, [seed])
    units = [s for s in segment(text) if any(ch.isalpha() for ch in text[s[0]:s[1]])]
    k = round(ratio * len(units))
    assert spans == sorted(spans)
    assert all(a < b for a, b in spans) and all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))
    covered = [u for u in units if any(a <= u[0] and u[1] <= b for a, b in spans)]
    if level == "word":
        assert len(spans) == k
    assert len(covered) <= k


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4000), st.sampled_from(["before", "after"]))
def test_longcontext_filler_never_exceeds_the_requested_tokens(tokens, position):
    p = apply(LongContext(tokens=tokens, position=position, seed=1), "How do I bake bread?")
    params = p.chain[-1]["params"]
    assert params["filler_tokens"] <= tokens and "How do I bake bread?" in p.prompt_text
    assert params["filler_tokens"] == approx_tokens(p.prompt_text.replace("How do I bake bread?", "").strip())


@settings(deadline=None)
@given(st.text(min_size=1, max_size=60).filter(lambda s: s.strip()))
def test_a_helper_output_equal_to_its_input_is_never_accepted(text):
    assert reject_reason(text, text, language="sw", source_language="en") is not None
    assert reject_reason(text, "  " + text + "\n", language="en", source_language="en", rewrite=True) is not None
