"""The defense module's data (refusals, prompts, rules) and a fast language guess for user messages."""
from __future__ import annotations

import threading
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
_lock = threading.Lock()
_detectors: dict[str, Any] = {}


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
    det = _detectors.get(group)
    if det is None:
        with _lock:
            det = _detectors.get(group)
            if det is None:
                from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

                langs = []
                for c in _CANDIDATES[group]:
                    try:
                        langs.append(Language.from_iso_code_639_1(IsoCode639_1.from_str(c)))
                    except (ValueError, AttributeError):
                        continue
                det = LanguageDetectorBuilder.from_languages(*langs).with_low_accuracy_mode().build()
                _detectors[group] = det
    return det


def _jv_votes(words: list[str]) -> int:
    try:
        from ..judges.refusal import _raw_lexicon  # the refusal judge's stop-word lists

        stop = {str(w).casefold() for w in (_raw_lexicon("jv") or {}).get("stopwords") or []}
    except Exception:  # pragma: no cover
        return 0
    return sum(1 for w in words if w in stop)


@lru_cache(maxsize=4096)
def detect_language(text: str, default: str = "en") -> str:
    """Best guess of the ISO 639-1 code `text` is written in (script first, lingua for shared scripts)."""
    from ..judges.refusal import script_profile

    sample = text[:600]
    prof = script_profile(sample)
    if not prof:
        return default
    if "J" in prof and prof["J"] >= 2:  # any kana: Japanese
        return "ja"
    script = max(prof, key=prof.__getitem__)
    if script in _SCRIPT_LANG:
        return _SCRIPT_LANG[script]
    if script not in _CANDIDATES:
        return default
    try:
        lang = _detector(script).detect_language_of(sample)
    except Exception:  # pragma: no cover - lingua missing
        return default
    if lang is None:
        return default
    code = lang.iso_code_639_1.name.lower()
    if script == "L" and code in ("id", "ms"):  # lingua has no Javanese
        words = sample.casefold().split()
        if _jv_votes(words[:80]) >= 3:
            return "jv"
    return code
