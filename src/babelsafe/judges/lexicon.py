"""Refusal lexicons: per-language YAML files of regular expressions, grouped per script.

A group's patterns are matched through a lexicon_index.Index (one C-level scan for literal triggers,
then only the patterns owning a trigger found, on a window around it). Nothing is compiled before it
is needed: a kind's alternation on its first `search`, a pattern on the first answer with its trigger.
"""
from __future__ import annotations

import gc
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .answer_text import _normalize_pattern, normalize  # noqa: F401
from .lexicon_index import Index, trie_regex, triggers  # noqa: F401 (triggers: older callers)

# ---------------------------------------------------------------------------------------------------
# Lexicons

_LEX_DIR = "lexicons"


@lru_cache(maxsize=None)
def _raw_lexicon(code: str) -> dict[str, Any] | None:
    try:
        text = resources.files(__package__).joinpath(_LEX_DIR, f"{code}.yaml").read_text("utf-8")
    except (FileNotFoundError, OSError):
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader) or {}


@lru_cache(maxsize=1)
def lexicon_languages() -> tuple[str, ...]:
    """Codes of all shipped lexicons."""
    files = resources.files(__package__).joinpath(_LEX_DIR).iterdir()
    return tuple(sorted(f.name[:-5] for f in files if f.name.endswith(".yaml") and f.name != "cyberseceval.yaml"))


def _patterns(code: str, kind: str, seen: set[str] | None = None) -> list[str]:
    seen = set() if seen is None else seen
    if code in seen:
        return []
    seen.add(code)
    raw = _raw_lexicon(code) or {}
    out = [_normalize_pattern(p) for p in raw.get(kind) or []]
    for inc in raw.get("include") or []:
        out += _patterns(inc, kind, seen)
    return out


def _compile(patterns: list[str]) -> re.Pattern[str] | None:
    pats = list(dict.fromkeys(patterns))
    return re.compile("|".join(f"(?:{p})" for p in pats)) if pats else None


def _compile_prefilter(patterns: list[str]) -> re.Pattern[str] | None:
    """One trie regex over the triggers of all patterns; None when some pattern has no trigger."""
    words: set[str] = set()
    for p in dict.fromkeys(patterns):
        t = triggers(p)
        if not t or min(map(len, t)) < 2:
            return None
        words |= t
    return re.compile(trie_regex(words)) if words else None


# What each pattern kind means (see lexicons/README.md); all are features of the refusal judge.
KINDS = ("refusal", "cannot", "apology", "ai_self", "no_opinion", "no_access", "lecture", "premise", "fact",
         "contrast", "pivot", "redirect", "comply_open", "non_refusal", "short_no", "warning")

# Languages whose lexicons are searched for an answer written mainly in a script (English always too:
# models mix English into other languages).
SCRIPT_GROUPS = {"L": ("en", "de", "es", "fr", "it", "pt", "id", "ms", "jv", "sw", "vi"),
                 "C": ("ru",), "A": ("ar",), "D": ("hi",), "B": ("bn",), "H": ("zh", "ja"),
                 "J": ("ja", "zh"), "K": ("ko",), "T": ("th",)}


class Lexicon:
    """Patterns of some languages (their own + included + English) by kind, and their Index.

    Compiled lazily: a kind's alternation (and its literal prefilter) on first `search`, each pattern
    on the first answer that contains one of its triggers, so start-up compiles nothing."""

    def __init__(self, code: str, kinds: dict[str, list[str]], index: Index, codes: tuple[str, ...] = ()):
        self.code = code
        self.codes = codes  # the languages whose patterns it holds (English included where added)
        self.kinds = kinds  # kind -> patterns (normalised, de-duplicated)
        self.index = index
        self._compiled: dict[str, tuple[re.Pattern[str] | None, re.Pattern[str] | None]] = {}

    def _kind(self, kind: str) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        got = self._compiled.get(kind)
        if got is None:
            pats = self.kinds.get(kind) or []
            got = self._compiled[kind] = (_compile(pats), _compile_prefilter(pats))
        return got

    @property
    def patterns(self) -> dict[str, re.Pattern[str] | None]:
        """kind -> one compiled alternation of its patterns (None when the kind has none)."""
        return {k: self._kind(k)[0] for k in KINDS}

    def __getattr__(self, kind: str) -> re.Pattern[str] | None:  # lex.refusal etc. (older callers)
        if kind in KINDS:
            return self._kind(kind)[0]
        raise AttributeError(kind)

    def search(self, kind: str, text: str, pos: int = 0) -> re.Match[str] | None:
        """First match of the `kind` patterns in text[pos:], using the literal prefilter first."""
        rx, pre = self._kind(kind)
        if rx is None:
            return None
        if pre is not None and pre.search(text, pos) is None:
            return None
        return rx.search(text, pos)

    def find(self, text: str) -> dict[str, list[tuple[int, int]]]:
        """All kinds at once: kind -> sorted (start, end) spans (see lexicon_index.Index)."""
        return self.index.find(text)


@lru_cache(maxsize=None)
def _build(codes: tuple[str, ...], name: str) -> Lexicon:
    kinds: dict[str, list[str]] = {}
    items: list[tuple[str, str]] = []
    for kind in KINDS:
        pats: list[str] = []
        for c in codes:
            pats += _patterns(c, kind)
        pats = list(dict.fromkeys(pats))
        items += [(kind, p) for p in pats]
        kinds[kind] = pats
    spaced = all((_raw_lexicon(c) or {}).get("spaced", c not in _UNSPACED) for c in codes if c != "en")
    lex = Lexicon(name, kinds, Index(items, by_word=spaced), codes)
    # A group's index is ~15,000 container objects kept for the life of the process (cached above; ~270k
    # for the 20 groups a multilingual run meets). Left to the cyclic collector, every full collection
    # walks them again: in `babelsafe run` that was ~60-80 ms per collection, 0.15 s of a 4,715-answer
    # run (0.04 s with the string-match judge). Frozen, the collector skips them (and whatever else
    # exists at this moment: such objects are still freed by reference counting, only a cycle among
    # them would wait for gc.unfreeze()).
    if gc.isenabled():
        gc.freeze()
    return lex


# Lexicons whose patterns match inside words (no spaces, or prefixes glued to words): scanned by
# character rather than by word.
_UNSPACED = {"zh", "ja", "th", "ar", "hi", "bn", "ko"}


def get_lexicon(code: str | None) -> Lexicon:
    """The compiled lexicon for `code` (+ English); None or a language without a lexicon -> all."""
    if code and _raw_lexicon(code) is not None:
        return _build((code,) + (("en",) if code != "en" else ()), code)
    return _build(lexicon_languages(), "*")


# Latin-script languages searched together when the stop-word vote names one of them (close
# neighbours are easily confused on short answers).
NEIGHBOURS = {"es": ("es", "pt", "it", "fr"), "pt": ("pt", "es", "it", "fr"), "it": ("it", "es", "pt", "fr"),
              "fr": ("fr", "es", "it", "pt"), "id": ("id", "ms", "jv"), "ms": ("ms", "id", "jv"),
              "jv": ("jv", "id", "ms"), "de": ("de",), "sw": ("sw",), "vi": ("vi",), "en": ()}


@lru_cache(maxsize=None)  # a few dozen (script, language) pairs: saves building the group's name per answer
def answer_lexicon(script: str | None, language: str | None) -> Lexicon:
    """The lexicon for an answer: its language's neighbourhood + English when the language is known
    (Latin script), else every lexicon of its script."""
    if script == "L" and language in NEIGHBOURS:
        codes = NEIGHBOURS[language]
        return _build(codes + ("en",), "+".join(codes + ("en",)))
    return script_lexicon(script)


def script_lexicon(script: str | None) -> Lexicon:
    """The lexicon for answers written mainly in `script` (a script code of answer_text)."""
    codes = SCRIPT_GROUPS.get(script or "")
    if not codes:
        return _build(lexicon_languages(), "*")
    codes = tuple(c for c in codes if _raw_lexicon(c) is not None)
    return _build(codes + (("en",) if "en" not in codes else ()), "+".join(codes))


def _stopwords() -> dict[str, tuple[str, ...]]:
    """word -> languages whose stop-word list holds it (babelsafe.text builds and caches it)."""
    from ..text import stopword_index

    return stopword_index()
