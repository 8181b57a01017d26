"""Text and language: normalisation, writing scripts and language identification with a prior.

One module for every component that asks "what is this text / which language is it in?" (the refusal
judge, the guard proxy and its scan, defense layers, transforms that check their own output).

Language ID is cheap evidence first (script, telltale letters, stop words), lingua only when that is
inconclusive, and a PRIOR: the languages the text is expected to be in (the probe's language, the run's
languages, a deployment's languages). Short texts are where statistical detectors fail ("How do you hire a
hitman on the dark web?" can come out Swedish): a guess outside the prior only wins when it is confident,
otherwise the best prior language does; with no prior, an unconfident guess is "und" (unknown).
Lingua has no Javanese (it says Indonesian or Malay): `ACCEPTABLE` maps such neighbours onto the prior.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass
from collections import _count_elements  # type: ignore[attr-defined]
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

UNKNOWN = "und"  # ISO 639-2 "undetermined"

# Lingua's confidences are relative over the candidate set; below this, a guess outside the prior (or any
# guess, with no prior) is not trusted. Chosen on the dev half of MultiJail + XSafety prompts, see
# docs/DESIGN.md ("Language identification") for the figures and the held-out half.
MIN_CONFIDENCE = 0.5
# A guess outside the prior overrules it only with confidence >= min_confidence (>= SHORT_CONFIDENCE for
# texts under SHORT_LETTERS weighted letters) and >= PRIOR_RATIO times the best prior language's.
SHORT_LETTERS = 40
SHORT_CONFIDENCE = 0.9
PRIOR_RATIO = 10.0

# ---------------------------------------------------------------------------------------------------
# Normalisation


def _build_translate() -> dict[int, Any]:
    table: dict[int, Any] = {
        0x2019: "'", 0x2018: "'", 0x02BC: "'", 0x2032: "'", 0x00B4: "'",
        0x201C: '"', 0x201D: '"', 0x00AB: '"', 0x00BB: '"', 0x201E: '"',
        0x0623: "\u0627", 0x0625: "\u0627", 0x0622: "\u0627", 0x0671: "\u0627",  # alef variants
        0x0649: "\u064A",  # alef maksura -> yeh
        0x0640: None,  # tatweel
        0x00AD: None, 0x200B: None, 0x200C: None, 0x200D: None, 0xFEFF: None,  # soft hyphen, ZW chars
    }
    for cp in range(0x064B, 0x0653):  # Arabic harakat
        table[cp] = None
    table[0x0670] = None
    return table


_TRANSLATE = _build_translate()
_NEEDS_TRANSLATE = re.compile("[" + "".join(re.escape(chr(c)) for c in _TRANSLATE) + "]")
# text.translate(_TRANSLATE) as one str.replace per character present: no replacement is itself a key,
# so replacing one after another is the same as translating all at once, and a few C searches are far
# cheaper than translate's dictionary lookup per character (a test compares the two)
_REPLACE = tuple((chr(c), r or "") for c, r in _TRANSLATE.items())


def normalize(text: str) -> str:
    """NFKC + casefold + ASCII quotes + Arabic diacritics/alef unification (for matching text)."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold()
    if _NEEDS_TRANSLATE.search(text) is None:
        return text
    for ch, rep in _REPLACE:
        if ch in text:
            text = text.replace(ch, rep)
    return text


# ---------------------------------------------------------------------------------------------------
# Scripts

_SCRIPT_RANGES: list[tuple[int, int, str]] = [
    (0x0041, 0x005A, "L"), (0x0061, 0x007A, "L"), (0x00C0, 0x024F, "L"), (0x1E00, 0x1EFF, "L"),
    (0x0370, 0x03FF, "G"), (0x0400, 0x052F, "C"), (0x0590, 0x05FF, "E"),
    (0x0600, 0x06FF, "A"), (0x0750, 0x077F, "A"), (0xFB50, 0xFDFF, "A"), (0xFE70, 0xFEFF, "A"),
    (0x0900, 0x097F, "D"), (0x0980, 0x09FF, "B"), (0x0A00, 0x0A7F, "P"), (0x0A80, 0x0AFF, "U"),
    (0x0B80, 0x0BFF, "M"), (0x0C00, 0x0C7F, "W"), (0x0C80, 0x0CFF, "N"), (0x0D00, 0x0D7F, "Y"),
    (0x0D80, 0x0DFF, "S"), (0x0E00, 0x0E7F, "T"), (0x0E80, 0x0EFF, "O"), (0x1000, 0x109F, "R"),
    (0x10A0, 0x10FF, "V"), (0x1200, 0x137F, "Q"), (0x1780, 0x17FF, "X"), (0x0530, 0x058F, "Z"),
    (0x1100, 0x11FF, "K"), (0x3130, 0x318F, "K"), (0xAC00, 0xD7AF, "K"),
    (0x3040, 0x30FF, "J"), (0x31F0, 0x31FF, "J"), (0xFF66, 0xFF9F, "J"),
    (0x4E00, 0x9FFF, "H"), (0x3400, 0x4DBF, "H"), (0xF900, 0xFAFF, "H"),
]
# One-letter script codes used by script_profile, and their names (as in languages.LANGUAGES).
SCRIPT_OF_NAME = {
    "Latin": "L", "Greek": "G", "Cyrillic": "C", "Hebrew": "E", "Arabic": "A", "Devanagari": "D",
    "Bengali": "B", "Gurmukhi": "P", "Gujarati": "U", "Tamil": "M", "Telugu": "W", "Kannada": "N",
    "Malayalam": "Y", "Sinhala": "S", "Thai": "T", "Lao": "O", "Myanmar": "R", "Georgian": "V",
    "Ethiopic": "Q", "Khmer": "X", "Armenian": "Z", "Hangul": "K", "Japanese": "J", "Han": "H",
}
SCRIPT_NAME = {v: k for k, v in SCRIPT_OF_NAME.items()}
SCRIPT_NAME["J"] = "Kana"
# Weights: one Han/Kana/Hangul character carries about as much as a few Latin letters.
_SCRIPT_WEIGHT = {"H": 3.0, "J": 2.0, "K": 2.0}


@lru_cache(maxsize=1)
def _script_table() -> dict[int, Any]:
    table: dict[int, Any] = {cp: None for cp in range(0x80) if not chr(cp).isalpha()}
    for lo, hi in ((0x2000, 0x206F), (0x3000, 0x303F), (0xFF00, 0xFF0F), (0xFF1A, 0xFF20), (0x00A0, 0x00BF)):
        table.update({cp: None for cp in range(lo, hi + 1)})
    for lo, hi, code in _SCRIPT_RANGES:
        for cp in range(lo, hi + 1):
            cat = unicodedata.category(chr(cp))
            if cat.startswith("L") or code in "HJK" or cat.startswith("M"):
                table[cp] = code
    return table


_ASCII_LETTER_BYTES = bytes(c for c in range(128) if chr(c).isalpha())


def script_profile(text: str) -> dict[str, float]:
    """Weighted letter counts per script code for `text` (e.g. {'L': 120, 'H': 30})."""
    if text.isascii():
        # the ASCII letters are exactly the ASCII characters str.isalpha accepts: count what deleting
        # them removes (one C call)
        n = len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTER_BYTES))
        return {"L": float(n)} if n else {}
    # One translate maps every letter to its script code and drops the rest; the table fills itself
    # (a miss costs one Python call per distinct character, once per process). Counting keeps the
    # scripts in the order their first letters occur (ties in dominant_script depend on it): the C
    # helper behind Counter, without Counter's Python-level constructor.
    counts: dict[str, int] = {}
    _count_elements(counts, text.translate(_SCRIPT_CODES))
    out: dict[str, float] = {}
    for code, k in counts.items():
        out[code] = k * _SCRIPT_WEIGHT.get(code, 1.0)
    return out


class _ScriptCodes(dict):  # type: ignore[type-arg]
    """code point -> script code (None: not a letter of a known script), filled on first sight."""

    def __missing__(self, cp: int) -> str | None:
        code = _script_table().get(cp)
        code = code if code in SCRIPT_NAME else None
        if len(self) < 200_000:  # bounded, whatever text comes in
            self[cp] = code
        return code


_SCRIPT_CODES = _ScriptCodes()


def dominant_script(text: str) -> str | None:
    """The script code with the most (weighted) letters, or None for a text without letters."""
    prof = script_profile(text)
    return max(prof, key=prof.__getitem__) if prof else None


def expected_script(code: str) -> str | None:
    """The script code a language is written in ('bn' -> 'B'), None when unknown."""
    from . import languages

    lang = languages.LANGUAGES.get(code)
    return SCRIPT_OF_NAME.get(lang.script) if lang else None


# ---------------------------------------------------------------------------------------------------
# Stop words (from the refusal judge's lexicons: babelsafe/judges/lexicons/*.yaml, key `stopwords`)

_WORDS = re.compile(r"[^\W\d_]+")


@lru_cache(maxsize=None)
def lexicon_word_lists(key: str) -> dict[str, tuple[str, ...]]:
    """{lexicon language: its `key` word list (stopwords, script_stopwords), normalised}, for the
    lexicons that have one, in language-code order."""
    import yaml

    # BaseLoader: every word stays a string (YAML 1.1 would read the stop words on / no as booleans)
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    lists: dict[str, tuple[str, ...]] = {}
    folder = resources.files("babelsafe.judges").joinpath("lexicons")
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        if not f.name.endswith(".yaml") or f.name == "cyberseceval.yaml":
            continue
        words = (yaml.load(f.read_text("utf-8"), Loader=loader) or {}).get(key)
        if words:
            lists[f.name[:-5]] = tuple(normalize(str(w)) for w in words)
    return lists


@lru_cache(maxsize=1)
def stopword_index() -> dict[str, tuple[str, ...]]:
    """word -> languages whose stop-word list holds it."""
    index: dict[str, list[str]] = {}
    for lang, words in lexicon_word_lists("stopwords").items():
        for w in words:
            index.setdefault(w, []).append(lang)
    return {w: tuple(c) for w, c in index.items()}


def stopword_votes(text: str, max_words: int = 80) -> dict[str, int]:
    """{language: number of its stop words} over the first `max_words` words of text."""
    index = stopword_index()
    votes: dict[str, int] = {}
    for w in _WORDS.findall(normalize(text))[:max_words]:
        for c in index.get(w, ()):
            votes[c] = votes.get(c, 0) + 1
    return votes


def _clear_winner(votes: dict[str, int]) -> str | None:
    if not votes:
        return None
    ranked = sorted(votes.items(), key=lambda kv: -kv[1])
    best, n = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    return best if n >= 2 and n >= 2 * second else None


# ---------------------------------------------------------------------------------------------------
# Lingua

_detector_lock = threading.Lock()
_detectors: dict[tuple[str, ...], Any] = {}


def lingua_detector(codes: tuple[str, ...]) -> Any:
    """A lingua LanguageDetector for these ISO 639-1 codes (those lingua knows), built once per process:
    building one loads its models, so judges, the guard proxy and anything else share them."""
    det = _detectors.get(codes)
    if det is None:
        with _detector_lock:
            det = _detectors.get(codes)
            if det is None:
                from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

                langs = []
                for c in codes:
                    try:
                        langs.append(Language.from_iso_code_639_1(IsoCode639_1.from_str(c)))
                    except (ValueError, AttributeError):  # not a language lingua detects (e.g. jv)
                        continue
                det = LanguageDetectorBuilder.from_languages(*langs).with_low_accuracy_mode().build()
                _detectors[codes] = det
    return det


@lru_cache(maxsize=None)
def lingua_knows(code: str) -> bool:
    """Whether lingua can detect this language (it has no Javanese or Sundanese, for example)."""
    try:
        from lingua import IsoCode639_1, Language

        Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
        return True
    except (ImportError, ValueError, AttributeError):
        return False


def lingua_confidences(text: str, codes: Iterable[str]) -> list[tuple[str, float]]:
    """[(code, confidence), ...] best first, over the candidate `codes` lingua knows ([] when none)."""
    det = lingua_detector(tuple(sorted(set(codes))))
    out = []
    for cv in det.compute_language_confidence_values(text):
        out.append((cv.language.iso_code_639_1.name.lower(), float(cv.value)))
    return out


# ---------------------------------------------------------------------------------------------------
# Language identification

# Languages lingua cannot tell apart from a close neighbour: a text detected as any of these is
# acceptable for the expected language (lingua has no Javanese; it says Indonesian or Malay).
ACCEPTABLE = {"jv": {"jv", "id", "ms", "su"}, "su": {"su", "id", "ms", "jv"}, "ms": {"ms", "id"},
              "id": {"id", "ms"}, "nb": {"nb", "no", "nn", "da"}, "no": {"no", "nb", "nn", "da"},
              "fil": {"fil", "tl"}, "tl": {"tl", "fil"}, "hr": {"hr", "bs", "sr"}, "bs": {"bs", "hr", "sr"}}

# Scripts that (almost) pin a language; ambiguous scripts go to lingua over a candidate set.
_SCRIPT_LANG = {"H": "zh", "J": "ja", "K": "ko", "T": "th", "B": "bn", "G": "el", "E": "he", "M": "ta",
                "W": "te", "N": "kn", "Y": "ml", "S": "si", "U": "gu", "P": "pa", "R": "my", "V": "ka",
                "Q": "am", "X": "km", "Z": "hy", "O": "lo", "D": "hi"}
CANDIDATES = {
    "A": ("ar", "fa", "ur"),
    "C": ("ru", "uk", "bg", "sr", "kk", "mk", "be"),
    "L": ("en", "es", "fr", "de", "pt", "it", "nl", "vi", "id", "ms", "sw", "tr", "pl", "cs", "ro", "sv",
          "da", "tl", "hu", "fi", "ca", "so", "yo", "zu", "af"),
}
# Letters that (nearly) give a Latin-script language away, checked before the statistics.
_MARKS = (("¿¡", "es"), ("ơưđĐằắẳẵặầấẩẫậềếểễệồốổỗộờớởỡợừứửữự", "vi"), ("ãõ", "pt"), ("ß", "de"),
          ("ğış", "tr"), ("łśżźąę", "pl"), ("ř", "cs"))


@dataclass(frozen=True)
class Detection:
    """A language guess: ISO 639-1 code (or "und"), lingua's confidence (1.0 for script/marks
    evidence, 0.0 when nothing was detected) and how it was decided."""

    language: str
    confidence: float
    method: str  # script | marks | stopwords | lingua | prior | empty | unknown


def _prior_tuple(prior: str | Iterable[str] | None) -> tuple[str, ...]:
    if isinstance(prior, str):  # one code (the runner's per-probe prior): normalised once per code
        hit = _PRIORS.get(prior)
        if hit is None:
            hit = _normalized((prior,))
            if len(_PRIORS) < 4096:
                _PRIORS[prior] = hit
        return hit
    return _normalized(list(prior)) if prior else ()


def _normalized(items: Iterable[str]) -> tuple[str, ...]:
    from . import languages

    out: list[str] = []
    for c in items:
        if not c or c == UNKNOWN:
            continue
        try:
            out.append(languages.normalize(c))
        except Exception:  # an unknown code in a prior is no evidence; ignore it
            continue
    return tuple(dict.fromkeys(out))


_PRIORS: dict[str, tuple[str, ...]] = {}


def _to_prior(code: str, prior: tuple[str, ...]) -> str | None:
    """The prior language `code` stands for (itself, or one whose ACCEPTABLE set holds it)."""
    if code in prior:
        return code
    for p in prior:
        if code in ACCEPTABLE.get(p, ()):
            return p
    return None


def detect(text: str, prior: str | Iterable[str] | None = None, *, min_confidence: float = MIN_CONFIDENCE,
           default: str = UNKNOWN) -> Detection:
    """The language `text` is written in, given the languages it is expected to be in (`prior`, most
    likely first: e.g. the probe's language, then the run's languages).

    A text without letters gets the first prior language (or `default`). A script that pins a language
    decides (a prior language of that script wins, e.g. Devanagari with prior mr -> mr). Latin script:
    telltale letters, a clear stop-word vote, then lingua; a guess outside the prior must have
    confidence >= min_confidence (SHORT_CONFIDENCE for short texts) and PRIOR_RATIO times the best prior
    language's, else that prior language is taken (a prior language lingua does not know, e.g. jv, is
    only overruled by stop words); with no prior of this script an unconfident guess gives `default`.
    """
    pri = _prior_tuple(prior)
    sample = text[:600]
    prof = script_profile(sample)
    if not prof:
        return Detection(pri[0] if pri else default, 0.0, "prior" if pri else "empty")
    if prof.get("J", 0) >= 2:  # any kana: Japanese
        return Detection("ja", 1.0, "script")
    script = max(prof, key=prof.__getitem__)
    same = tuple(p for p in pri if expected_script(p) == script)
    if script in _SCRIPT_LANG:
        return Detection(same[0] if same else _SCRIPT_LANG[script], 1.0, "script")
    if script not in CANDIDATES:
        return Detection(same[0] if same else default, 0.0, "prior" if same else "unknown")
    if script == "L":
        for chars, code in _MARKS:
            if any(ch in sample for ch in chars):
                return Detection(_to_prior(code, same) or code, 1.0, "marks")
        best = _clear_winner(stopword_votes(sample))
        if best is not None:
            return Detection(_to_prior(best, same) or best, 1.0, "stopwords")
    try:
        confs = lingua_confidences(sample, CANDIDATES[script] + same)
    except ImportError:  # lingua not installed: no statistics, only the prior
        confs = []
    if not confs:
        return Detection(same[0] if same else default, 0.0, "prior" if same else "unknown")
    guess = _lingua_decision(confs, same, sum(prof.values()), min_confidence, default)
    blind = [p for p in same if not lingua_knows(p)]  # e.g. jv: lingua cannot speak for or against it
    return _with_blind(guess, blind, same, stopword_votes(sample)) if blind else guess


def _lingua_decision(confs: list[tuple[str, float]], same: tuple[str, ...], letters: float,
                     min_confidence: float, default: str) -> Detection:
    top, conf = confs[0]
    mapped = _to_prior(top, same)
    if mapped is not None:
        return Detection(mapped, conf, "lingua")
    if same:
        rated = dict(confs)

        def support(p: str) -> float:
            return max((rated.get(c, 0.0) for c in ACCEPTABLE.get(p, {p})), default=0.0)

        pick = max(same, key=support)
        need = min_confidence if letters >= SHORT_LETTERS else max(min_confidence, SHORT_CONFIDENCE)
        if conf < need or conf < PRIOR_RATIO * support(pick):
            # not sure enough to overrule the prior: the prior language lingua rates best
            return Detection(pick, support(pick), "prior")
        return Detection(top, conf, "lingua")
    if conf >= min_confidence:
        return Detection(top, conf, "lingua")
    return Detection(default, conf, "unknown")


def _with_blind(guess: Detection, blind: list[str], prior: tuple[str, ...], votes: dict[str, int]) -> Detection:
    """Lingua's guess against prior languages lingua cannot detect: stop words decide when they are
    clear, else the language earlier in the prior wins."""
    b = max(blind, key=lambda c: votes.get(c, 0))  # ties: the earliest in the prior
    vb, vg = votes.get(b, 0), votes.get(guess.language, 0)
    if b == guess.language or (vg >= 2 and vg >= 2 * vb):
        return guess
    if vb >= 2 and vb >= 2 * vg:
        return Detection(b, 0.0, "stopwords")
    if guess.language in prior and prior.index(guess.language) < prior.index(b):
        return guess
    return Detection(b, 0.0, "prior")


@lru_cache(maxsize=8192)
def _detect_cached(text: str, prior: tuple[str, ...], min_confidence: float, default: str) -> Detection:
    return detect(text, prior, min_confidence=min_confidence, default=default)


def detect_language(text: str, prior: str | Iterable[str] | None = None, *,
                    min_confidence: float = MIN_CONFIDENCE, default: str = UNKNOWN) -> str:
    """`detect(...).language`, cached (the proxy asks about the same texts often)."""
    return _detect_cached(text, _prior_tuple(prior), float(min_confidence), default).language


def quick_language(text: str) -> str | None:
    """A cheap guess (script, telltale letters, stop words; no statistical model), or None if unsure."""
    sample = text[:600]
    prof = script_profile(sample)
    if not prof:
        return None
    if prof.get("J", 0) >= 2:
        return "ja"
    script = max(prof, key=prof.__getitem__)
    if script in _SCRIPT_LANG:
        return _SCRIPT_LANG[script]
    if script == "L":
        for chars, code in _MARKS:
            if any(ch in sample for ch in chars):
                return code
        return _clear_winner(stopword_votes(sample))
    return None


# ---------------------------------------------------------------------------------------------------
# The languages expected in the current task (set by the runner around a probe's model call, so a
# defense layer can use the probe's language as its prior without a parameter through the Target API)

_EXPECTED: ContextVar[tuple[str, ...]] = ContextVar("babelsafe_expected_languages", default=())


class expecting:
    """Within this block, `expected_languages()` returns `languages` (most likely first).
    A class, not a generator context manager: the runner enters one per model call."""

    __slots__ = ("_prior", "_token")

    def __init__(self, languages: str | Iterable[str] | None):
        self._prior = _prior_tuple(languages)

    def __enter__(self) -> None:
        self._token = _EXPECTED.set(self._prior)

    def __exit__(self, *exc: Any) -> None:
        _EXPECTED.reset(self._token)


def expected_languages() -> tuple[str, ...]:
    return _EXPECTED.get()


def prior_of(*sources: str | Iterable[str] | None) -> tuple[str, ...]:
    """One prior from several sources, in order, without repeats (e.g. the probe's language, then the
    run's languages)."""
    out: list[str] = []
    for s in sources:
        out.extend(_prior_tuple(s))
    return tuple(dict.fromkeys(out))
