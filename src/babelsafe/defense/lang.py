"""The defense module's data (refusals, prompts, rules) and a fast language guess for user messages."""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .. import languages as _languages

# Scripts that (almost) pin a language; ambiguous scripts go to lingua over a small candidate set.
_SCRIPT_LANG = {"H": "zh", "J": "ja", "K": "ko", "T": "th", "B": "bn", "G": "el", "E": "he", "M": "ta",
                "W": "te", "N": "kn", "Y": "ml", "S": "si", "U": "gu", "P": "pa", "R": "my", "V": "ka",
                "Q": "am", "X": "km", "Z": "hy", "O": "lo", "D": "hi"}
_CANDIDATES = {
    "A": ("ar", "fa", "ur"),
    "C": ("ru", "uk", "bg", "sr", "kk", "mk", "be"),
    "L": ("en", "es", "fr", "de", "pt", "it", "nl", "vi", "id", "ms", "sw", "tr", "pl", "cs", "ro", "sv",
          "da", "tl", "hu", "fi", "ca", "so", "yo", "zu", "af"),
}
# Letters that (nearly) give a Latin-script language away, checked before the statistics.
_MARKS = (("¿¡", "es"), ("ơưđĐằắẳẵặầấẩẫậềếểễệồốổỗộờớởỡợừứửữự", "vi"), ("ãõ", "pt"), ("ß", "de"),
          ("ğış", "tr"), ("łśżźąę", "pl"), ("ř", "cs"))


def data_text(name: str) -> str:
    return resources.files(__package__).joinpath("data", name).read_text("utf-8")


@lru_cache(maxsize=None)
def load_data(name: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(data_text(name), Loader=loader)


def refusals() -> dict[str, dict[str, str]]:
    """{language: {"refusal": ..., "notice": ...}} from data/refusals.yaml."""
    return load_data("refusals.yaml")


def refusal_text(language: str | None) -> str:
    """The guard's refusal in `language` (English when there is none for it)."""
    table = refusals()
    return (table.get(language or "en") or table["en"])["refusal"]


def notice_text(language: str | None) -> str:
    table = refusals()
    return (table.get(language or "en") or table["en"])["notice"]


def prompt(name: str, **fmt: str) -> str:
    """A model prompt from data/prompts.yaml with {placeholders} filled."""
    return str(load_data("prompts.yaml")[name]).format(**fmt)


def language_name(code: str) -> str:
    return _languages.name(code)


def _detector(group: str) -> Any:
    return _languages.lingua_detector(tuple(_CANDIDATES[group]))


def _stopword_vote(text: str) -> str | None:
    """A language whose stop words (the refusal judge's lexicons) clearly dominate a Latin-script text."""
    try:
        from ..judges.refusal import _stopwords, normalize
    except ImportError:  # pragma: no cover
        return None
    index = _stopwords()
    votes: dict[str, int] = {}
    for w in re.findall(r"[^\W\d_]+", normalize(text))[:80]:
        for c in index.get(w, ()):
            votes[c] = votes.get(c, 0) + 1
    if not votes:
        return None
    ranked = sorted(votes.items(), key=lambda kv: -kv[1])
    best, n = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    return best if n >= 2 and n >= 2 * second else None


@lru_cache(maxsize=4096)
def quick_language(text: str) -> str | None:
    """A cheap guess (script, telltale letters, stop words; no statistical model), or None if unsure."""
    from ..judges.refusal import script_profile

    sample = text[:600]
    prof = script_profile(sample)
    if not prof:
        return None
    if "J" in prof and prof["J"] >= 2:  # any kana: Japanese
        return "ja"
    script = max(prof, key=prof.__getitem__)
    if script in _SCRIPT_LANG:
        return _SCRIPT_LANG[script]
    if script == "L":
        for chars, code in _MARKS:
            if any(ch in sample for ch in chars):
                return code
        return _stopword_vote(sample)
    return None


@lru_cache(maxsize=4096)
def detect_language(text: str, default: str = "en") -> str:
    """Best guess of the ISO 639-1 code `text` is written in (quick_language, then lingua)."""
    quick = quick_language(text)
    if quick is not None:
        return quick
    from ..judges.refusal import script_profile

    sample = text[:600]
    prof = script_profile(sample)
    if not prof:
        return default
    script = max(prof, key=prof.__getitem__)
    if script not in _CANDIDATES:
        return default
    try:
        lang = _detector(script).detect_language_of(sample)
    except Exception:  # pragma: no cover - lingua missing
        return default
    return default if lang is None else lang.iso_code_639_1.name.lower()
