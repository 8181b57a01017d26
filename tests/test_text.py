"""babelsafe.text: normalisation, scripts and language ID with a prior (real lingua, real lexicons)."""
from __future__ import annotations

import csv
import importlib.resources as resources
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from babelsafe import text
from babelsafe.text import ACCEPTABLE, Detection, detect, detect_language



def multijail_prompt(item_id: str, lang: str = "en") -> str:
    f = resources.files("babelsafe.datasets").joinpath("data/multijail/MultiJail.csv").read_text("utf-8-sig")
    return next(row[lang] for row in csv.DictReader(f.splitlines()) if row["id"] == item_id)


# MultiJail item 87 (English): the short question issue 13 found detected as Swedish
HITMAN = multijail_prompt("87")


def test_short_english_question_is_english_with_the_runs_languages_as_prior():
    assert HITMAN.startswith("How do you hire")
    assert detect_language(HITMAN, ["en", "zh", "bn"]) == "en"
    assert detect_language(HITMAN) == "en"  # the stop words decide even without a prior


def test_stop_words_are_words_not_yaml_booleans():
    # 'on' (en) and 'no' (es, pt) were read as True/False by YAML 1.1, so they never voted
    index = text.stopword_index()
    assert "on" in index and "en" in index["on"]
    assert "no" in index and {"es", "pt"} <= set(index["no"])
    assert "true" not in index and "false" not in index


def test_low_confidence_falls_back_to_the_prior_or_unknown():
    words = "Kitchen knife sharpen"  # no function words; lingua's best guess is French at 0.22
    assert detect(words).language == "und"
    assert detect(words, ["en", "zh", "bn"]) == Detection("en", pytest.approx(detect(words, ["en"]).confidence),
                                                          "prior")
    assert detect_language("Plumber hire cheap web", ["en", "zh", "bn"]) == "en"  # lingua: Malay at 0.52
    assert detect_language("ok") == "und"
    assert detect_language("ok", ["sw"]) == "sw"
    assert detect_language("12345 !!!", ["bn", "en"]) == "bn"  # no letters: the first prior language


def test_a_confident_text_overrules_a_prior_it_does_not_belong_to():
    de = "Wie kann ich zu Hause Brot backen, ohne dass es zu trocken wird und zusammenfällt?"
    assert detect_language(de, ["en"]) == "de"
    sw = "Ninawezaje kutengeneza mkate nyumbani bila tanuri?"
    assert detect_language(sw, ["en", "zh", "bn"]) == "sw"


def test_scripts_pin_languages_and_the_prior_picks_among_a_scripts_languages():
    assert detect_language("আমি কিভাবে রুটি বানাবো?") == "bn"
    assert detect_language("我怎样在家里烤面包？") == "zh"
    assert detect_language("パンの焼き方を教えてください") == "ja"
    marathi = "मी घरी भाकरी कशी बनवू?"
    assert detect_language(marathi) == "hi"
    assert detect_language(marathi, ["en", "mr"]) == "mr"


def test_javanese_prior_is_kept_although_lingua_does_not_know_javanese():
    jv = "Kepiye carane nggawe roti ing omah?"
    assert not text.lingua_knows("jv") and text.lingua_knows("id")
    assert detect_language(jv, ["jv", "en"]) == "jv"
    assert detect_language(jv, ["en", "jv", "sw"]) == "jv"
    assert "id" in ACCEPTABLE["jv"]


def test_expected_languages_context():
    assert text.expected_languages() == ()
    with text.expecting("bn"):
        assert text.expected_languages() == ("bn",)
        with text.expecting(["zh", "english"]):
            assert text.expected_languages() == ("zh", "en")
        assert text.expected_languages() == ("bn",)
    assert text.expected_languages() == ()
    assert text.prior_of("bn", ["en", "bn", "und", "xx-not-a-code"], None) == ("bn", "en")


def _multijail() -> list[tuple[str, str, str]]:
    f = resources.files("babelsafe.datasets").joinpath("data/multijail/MultiJail.csv").read_text("utf-8-sig")
    langs = ("en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv")
    return [(row["id"], lang, row[lang]) for row in csv.DictReader(f.splitlines()) for lang in langs if row[lang]]


@pytest.mark.slow
def test_multijail_held_out_accuracy_with_the_probe_language_as_prior():
    """Held-out half of MultiJail (items whose crc32 is odd; thresholds were set on the even half):
    with the probe's language first and the run's languages after it, >= 99% are identified."""
    run = ["en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv"]
    rows = [r for r in _multijail() if zlib.crc32(f"mj:{r[0]}".encode()) % 2 == 1]
    ok = sum(1 for _, lang, p in rows if detect_language(p, [lang] + run) in ACCEPTABLE.get(lang, {lang}))
    assert len(rows) > 1500
    assert ok / len(rows) >= 0.99, ok / len(rows)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_detection_is_total_and_answers_with_a_prior_language_or_a_known_code(s):
    from babelsafe.languages import LANGUAGES

    for prior in (None, ["en", "zh", "bn"]):
        d = detect(s, prior)
        assert d.language == "und" or d.language in LANGUAGES
        assert 0.0 <= d.confidence <= 1.0 + 1e-9
        if prior and not text.script_profile(s[:600]):
            assert d.language == "en"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_normalize_is_idempotent(s):
    assert text.normalize(text.normalize(s)) == text.normalize(s)
