"""Refusal lexicons: per-language YAML files of regular expressions, compiled per script group.

Each pattern kind of a group of languages becomes one regex alternation plus a literal prefilter (a
trie-shaped regex over strings one of which every match must contain), so most answers are rejected
by one cheap scan per kind.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .answer_text import _normalize_pattern, normalize

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


# -- literal triggers: a cheap prefilter -------------------------------------------------------------
# Python's regex engine tries every branch of a big alternation at every position. Each pattern,
# though, can only match where one of a few literal strings occurs (e.g. "i can't" or "no puedo"), so
# those strings are extracted from the parsed pattern and compiled into one trie-shaped regex; the full
# alternation runs only when the trie finds one of them.
try:  # Python >= 3.11
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_p  # type: ignore[no-redef]

_MAX_SET = 256


def _exact(items: Any) -> set[str] | None:
    """All strings a fully literal (sub)pattern can match, or None if it is not fully literal."""
    out = {""}
    for op, av in items:
        if op is _sre_c.LITERAL:
            out = {s + chr(av) for s in out}
        elif op is _sre_c.AT:
            continue
        elif op is _sre_c.IN and 0 < len(av) <= 8 and all(o is _sre_c.LITERAL for o, _ in av):
            out = {s + chr(c) for s in out for _, c in av}
        elif op is _sre_c.SUBPATTERN:
            sub = _exact(av[-1])
            if sub is None:
                return None
            out = {a + b for a in out for b in sub}
        elif op is _sre_c.BRANCH:
            alts: set[str] = set()
            for br in av[1]:
                sub = _exact(br)
                if sub is None:
                    return None
                alts |= sub
            out = {a + b for a in out for b in alts}
        else:
            return None
        if len(out) > _MAX_SET:
            return None
    return out


def _best(cands: list[set[str]]) -> set[str] | None:
    cands = [c for c in cands if c and "" not in c]
    if not cands:
        return None
    return max(cands, key=lambda c: (min(map(len, c)), -len(c)))


def _required(items: Any) -> set[str] | None:
    """A set of strings one of which every match of the (sub)pattern must contain (None: unknown)."""
    cands: list[set[str]] = []
    run: set[str] = {""}

    def close() -> None:
        nonlocal run
        if run != {""}:
            cands.append(run)
        run = {""}

    for op, av in items:
        if op is _sre_c.AT:
            continue
        ex = _exact([(op, av)]) if op in (_sre_c.LITERAL, _sre_c.SUBPATTERN, _sre_c.BRANCH, _sre_c.IN) else None
        if ex is not None and "" not in ex:
            new = {a + b for a in run for b in ex}
            if len(new) <= _MAX_SET:
                run = new
                continue
            close()
            run = ex
            continue
        close()
        if op is _sre_c.SUBPATTERN:
            r = _required(av[-1])
            if r:
                cands.append(r)
        elif op is _sre_c.BRANCH:
            union: set[str] = set()
            for br in av[1]:
                r = _required(br)
                if not r:
                    union = set()
                    break
                union |= r
            if union and len(union) <= _MAX_SET:
                cands.append(union)
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT) and av[0] >= 1:
            r = _required(av[2])
            if r:
                cands.append(r)
    close()
    return _best(cands)


def triggers(pattern: str) -> set[str] | None:
    """Literal strings one of which any match of `pattern` contains; None if none can be found."""
    try:
        return _required(_sre_p.parse(pattern))
    except Exception:  # pragma: no cover - an odd construct: no prefilter for this pattern
        return None


def _trie_regex(words: set[str]) -> str:
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict[str, Any]) -> str:
        if list(node) == [""]:
            return ""
        ends = "" in node
        alts = [re.escape(ch) + walk(child) for ch, child in sorted(node.items()) if ch]
        if ends:  # a shorter trigger ends here: the longer ones are redundant for a prefilter
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return body

    return walk(trie)


def _compile_prefilter(patterns: list[str]) -> re.Pattern[str] | None:
    """One trie regex over the triggers of all patterns; None when some pattern has no trigger."""
    words: set[str] = set()
    for p in dict.fromkeys(patterns):
        t = triggers(p)
        if not t or min(map(len, t)) < 2:
            return None
        words |= t
    return re.compile(_trie_regex(words)) if words else None


# What each pattern kind means (see lexicons/README.md); all are features of the refusal judge.
KINDS = ("refusal", "cannot", "apology", "ai_self", "no_opinion", "no_access", "lecture", "premise",
         "contrast", "pivot", "redirect", "comply_open", "non_refusal", "short_no")

# Languages whose lexicons are searched for an answer written mainly in a script (English always too:
# models mix English into other languages).
SCRIPT_GROUPS = {"L": ("en", "de", "es", "fr", "it", "pt", "id", "ms", "jv", "sw", "vi"),
                 "C": ("ru",), "A": ("ar",), "D": ("hi",), "B": ("bn",), "H": ("zh", "ja"),
                 "J": ("ja", "zh"), "K": ("ko",), "T": ("th",)}


_WORDS = re.compile(r"\w+")
_WORD_KEYS = re.compile(r"\b\w{1,4}")  # the first four characters of every word


class Index:
    """Every pattern of a lexicon indexed by its literal triggers.

    Texts in spaced scripts are walked word by word (a dict lookup on each word's first four
    characters), others character by character; only the patterns owning a trigger found there run,
    on a window around it. Python's regex engine would otherwise try every branch of every
    language's alternation at every position (hundreds of microseconds per answer)."""

    BACK = 90  # a match may start this far before its trigger
    FWD = 200  # ... and end this far after it

    def __init__(self, items: list[tuple[str, str]], by_word: bool):
        self.by_word = by_word
        self.kinds: list[str] = []
        self.regexes: list[re.Pattern[str]] = []
        self.always: list[int] = []
        self.anchored: list[int] = []  # '^...' patterns: tried once, at the start
        owners: dict[str, list[int]] = {}
        for kind, pat in items:
            i = len(self.regexes)
            self.kinds.append(kind)
            self.regexes.append(re.compile(pat))
            if pat.startswith("^"):
                self.anchored.append(i)
                continue
            trig = triggers(pat)
            if not trig or any(not t.strip() for t in trig):
                self.always.append(i)
                continue
            for t in trig:
                owners.setdefault(t.lstrip(), []).append(i)
        self.keys: dict[str, list[tuple[str, list[int]]]] = {}
        self.odd: list[tuple[str, list[int]]] = []  # triggers that start with a non-word character
        for t, ids in owners.items():
            if by_word:
                m = _WORDS.match(t)
                if m is None:
                    self.odd.append((t, ids))
                    continue
                key = m.group(0)[:4]
            else:
                key = t[:2]
            self.keys.setdefault(key, []).append((t, ids))

    def _candidates(self, text: str) -> list[tuple[int, str, list[int]]]:
        keys = self.keys
        out: list[tuple[int, str, list[int]]] = []
        if self.by_word:
            for m in _WORD_KEYS.finditer(text):
                lst = keys.get(m.group(0))
                if lst:
                    p = m.start()
                    out += [(p, t, ids) for t, ids in lst if text.startswith(t, p)]
            for t, ids in self.odd:
                p = text.find(t)
                if p >= 0:
                    out.append((p, t, ids))
        else:
            get = keys.get
            for p in range(len(text)):
                lst = get(text[p:p + 2])
                if lst:
                    out += [(p, t, ids) for t, ids in lst if text.startswith(t, p)]
        return out

    def find(self, text: str) -> dict[str, list[tuple[int, int]]]:
        """kind -> sorted, de-duplicated (start, end) spans of matches in text."""
        out: dict[str, set[tuple[int, int]]] = {}
        done: dict[int, tuple[int, int]] = {}
        n = len(text)
        for i in self.anchored:
            m = self.regexes[i].match(text)
            if m:
                out.setdefault(self.kinds[i], set()).add(m.span())
        for i in self.always:
            m = self.regexes[i].search(text)
            if m:
                out.setdefault(self.kinds[i], set()).add(m.span())
        for p, t, ids in self._candidates(text):
            for i in ids:
                prev = done.get(i)
                if prev is not None and prev[0] <= p < prev[1]:
                    continue
                m = self.regexes[i].search(text, max(0, p - self.BACK), min(n, p + len(t) + self.FWD))
                if m:
                    done[i] = m.span()
                    out.setdefault(self.kinds[i], set()).add(m.span())
        return {k: sorted(v) for k, v in out.items()}


@dataclass(frozen=True)
class Lexicon:
    """Compiled patterns of some languages (their own + included + English), one regex per kind."""

    code: str
    patterns: dict[str, re.Pattern[str] | None]
    prefilter: dict[str, re.Pattern[str] | None]
    index: Index

    def __getattr__(self, kind: str) -> re.Pattern[str] | None:  # lex.refusal etc. (older callers)
        try:
            return self.__dict__["patterns"][kind]
        except KeyError:
            raise AttributeError(kind) from None

    def search(self, kind: str, text: str, pos: int = 0) -> re.Match[str] | None:
        """First match of the `kind` patterns in text[pos:], using the literal prefilter first."""
        rx = self.patterns.get(kind)
        if rx is None:
            return None
        pre = self.prefilter.get(kind)
        if pre is not None and pre.search(text, pos) is None:
            return None
        return rx.search(text, pos)

    def find(self, text: str) -> dict[str, list[tuple[int, int]]]:
        """All kinds at once: kind -> sorted (start, end) spans (see Index)."""
        return self.index.find(text)


@lru_cache(maxsize=None)
def _build(codes: tuple[str, ...], name: str) -> Lexicon:
    compiled: dict[str, Any] = {}
    pre: dict[str, re.Pattern[str] | None] = {}
    items: list[tuple[str, str]] = []
    for kind in KINDS:
        pats: list[str] = []
        for c in codes:
            pats += _patterns(c, kind)
        pats = list(dict.fromkeys(pats))
        items += [(kind, p) for p in pats]
        compiled[kind] = _compile(pats)
        pre[kind] = _compile_prefilter(pats)
    spaced = all((_raw_lexicon(c) or {}).get("spaced", c not in _UNSPACED) for c in codes if c != "en")
    return Lexicon(name, compiled, pre, Index(items, by_word=spaced))


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
