"""Fast matching of many lexicon regexes: literal triggers, one C-level scan, windowed searches.

Python's regex engine tries every branch of a big alternation at every position, so running each
language's patterns over an answer costs hundreds of microseconds. Every pattern, though, can only
match where one of a few literal strings occurs (e.g. "i can't" or "no puedo"): those *triggers* are
extracted from the parsed pattern (`triggers`). An `Index` finds every trigger occurrence with one
trie-shaped regex (scanned in C), and runs only the patterns owning a trigger found there, on a
window around it.

Within a window, the leftmost match can only start where the pattern's trigger (or, for patterns
that do not start with it, one of its literal start strings) occurs, so the window search becomes
anchored `match` calls there.

`Index.find` is the fast path; `Index.find_reference` is the original word-by-word walk, kept as the
specification the fast path must reproduce exactly (tests compare the two on real answers).
"""
from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache
from typing import Any, ClassVar

from .textscan import C as _C
from .textscan import trigger_trie

try:  # Python >= 3.11
    from re import _compiler as _sre_k  # type: ignore[attr-defined]
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_compile as _sre_k  # type: ignore[no-redef]
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_p  # type: ignore[no-redef]

_MAX_SET = 256
Spans = dict[str, list[tuple[int, int]]]

# pattern -> its parse tree (sre_parse), for the patterns analysed here (_parsed): compiled() builds
# their regex from it instead of parsing the pattern a second time.
_TREES: dict[str, Any] = {}


def _from_tree(pattern: str, tree: Any) -> re.Pattern[str]:
    """What re.compile(pattern) returns, from the pattern's parse tree: the steps of the standard
    library's compiler after its parse (re._compiler.compile), which leave the tree as it was."""
    state = tree.state
    groupindex = state.groupdict
    indexgroup: list[str | None] = [None] * state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    code = _sre_k._code(tree, 0)
    rx: re.Pattern[str] = _sre_k._sre.compile(pattern, state.flags, code, state.groups - 1, groupindex,
                                             tuple(indexgroup))
    return rx


def _tree_compile_works() -> bool:
    """Whether _from_tree gives re.compile's own regex on this Python (a regex compares equal when its
    pattern, flags and compiled code are): if not, compiled() parses again with re.compile."""
    probe = r"(?P<w>\b(?:je suis )?d[ée]sol[ée]s?|[^\W\d]{2,}\s+)(?!x)\1?"
    try:
        got = _from_tree(probe, _sre_p.parse(probe))
    except Exception:  # pragma: no cover - another Python's internals
        return False
    want = re.compile(probe)
    return bool(got == want and got.groupindex == want.groupindex and got.groups == want.groups
                and got.flags == want.flags and got.pattern == want.pattern)


_TREE_COMPILE = _tree_compile_works()


@lru_cache(maxsize=None)
def compiled(pattern: str) -> re.Pattern[str]:
    """re.compile, cached without a size limit: the lexicons hold more patterns than re's own cache,
    and the same (English) patterns belong to every script group. A pattern already parsed for its
    triggers is compiled from that parse (the same regex, half the work)."""
    tree = _TREES.get(pattern)
    if tree is not None and _TREE_COMPILE:
        return _from_tree(pattern, tree)
    return re.compile(pattern)


# -- literal triggers ---------------------------------------------------------------------------------

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


def _parsed(pattern: str) -> Any:
    """The pattern's parse tree, parsed once for _triggers, _prefix, _starts and compiled()."""
    tree = _TREES.get(pattern)
    if tree is None:
        tree = _TREES[pattern] = _sre_p.parse(pattern)
    return tree


@lru_cache(maxsize=None)
def _triggers(pattern: str) -> frozenset[str] | None:
    try:
        found = _required(_parsed(pattern))
    except Exception:  # pragma: no cover - an odd construct: no prefilter for this pattern
        return None
    return frozenset(found) if found else None


@lru_cache(maxsize=None)
def _prefix(pattern: str) -> tuple[frozenset[str] | None, bool]:
    """(the strings one of which every match starts with, after its zero-width assertions, or None;
    whether those assertions include a leading word boundary). The same first run of literals as _required."""
    try:
        items = list(_parsed(pattern))
    except Exception:  # pragma: no cover
        return None, False
    k, boundary = 0, False
    while k < len(items) and items[k][0] is _sre_c.AT:
        boundary = boundary or items[k][1] is _sre_c.AT_BOUNDARY
        k += 1
    run: set[str] = {""}
    for op, av in items[k:]:
        if op is _sre_c.AT:
            continue
        ex = _exact([(op, av)]) if op in (_sre_c.LITERAL, _sre_c.SUBPATTERN, _sre_c.BRANCH, _sre_c.IN) else None
        if ex is None or "" in ex:
            break
        new = {a + b for a in run for b in ex}
        if len(new) > _MAX_SET:
            break
        run = new
    return (frozenset(run) if run != {""} else None), boundary


_ZERO_WIDTH = (_sre_c.AT, _sre_c.ASSERT, _sre_c.ASSERT_NOT)  # \b, ^, lookarounds: they match no character


def _lead(items: Any) -> set[str] | None:
    r"""Strings one of which every match of the (sub)pattern starts with; None when unknown. The
    leading run of literals (optional literal groups included), then, where that run stops at a group,
    an alternation or a repeat of at least one, the start strings of each of its branches: a branch
    set as in "\b(?:illegal|discriminat\w*|never (?:ok|fine))" gives {illegal, discriminat, never }."""
    run: set[str] = {""}
    for op, av in items:
        if op in _ZERO_WIDTH:
            continue  # zero-width: the next item starts where the match does
        if op is _sre_c.SUBPATTERN and (av[1] or av[2]):
            break  # inline flags ((?i:...)): the literals would not say which characters match
        ex: set[str] | None = None
        if op in (_sre_c.LITERAL, _sre_c.SUBPATTERN, _sre_c.BRANCH, _sre_c.IN):
            ex = _exact([(op, av)])
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT) and av[0] == 0 and av[1] == 1:
            sub = _exact(av[2])
            ex = None if sub is None else sub | {""}
        if ex is None:  # not all literal: its own start strings end the run
            lead: set[str] | None = None
            if op is _sre_c.SUBPATTERN:
                lead = _lead(av[-1])
            elif op is _sre_c.BRANCH:
                lead = set()
                for br in av[1]:
                    got = _lead(br)
                    if got is None:
                        lead = None
                        break
                    lead |= got
            elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT) and av[0] >= 1:
                lead = _lead(av[2])
            if lead:
                new = {a + b for a in run for b in lead}
                if len(new) <= _MAX_SET:
                    run = new
            break
        new = {a + b for a in run for b in ex}
        if len(new) > _MAX_SET:
            break
        run = new
    return None if "" in run else run


@lru_cache(maxsize=None)
def _starts(pattern: str) -> frozenset[str] | None:
    r"""Strings one of which every match of `pattern` starts with (after its zero-width assertions),
    optional literal groups included ("(?:je suis )?(?:désolé|navré)"), and through alternations
    ("\b(?:illegal|discriminat\w*)"); None when unknown. Used only to find where a window's leftmost
    match can start, so any correct set gives the same matches."""
    try:
        parsed = _parsed(pattern)
    except Exception:  # pragma: no cover
        return None
    if parsed.state.flags & (_sre_c.SRE_FLAG_IGNORECASE | _sre_c.SRE_FLAG_LOCALE):
        return None  # the literals would not say which characters match
    found = _lead(list(parsed))
    return frozenset(found) if found else None


def triggers(pattern: str) -> set[str] | None:
    """Literal strings one of which any match of `pattern` contains; None if none can be found."""
    found = _triggers(pattern)
    return set(found) if found else None


def trie_regex(words: set[str] | frozenset[str]) -> str:
    """A regex matching, at a position, the shortest of `words` that starts there (a trie of
    alternations: each branch starts with a distinct literal, which the engine tests cheaply).

    Built from the sorted words (a word with a shorter one of the set as its prefix is redundant for
    a prefilter, and is dropped): the same string as walking a trie of nested dicts, branch by branch
    in code-point order (tests compare the two), without a node per character."""
    kept: list[str] = []
    for w in sorted(words):
        if kept and w.startswith(kept[-1]):
            continue  # a shorter word of the set ends inside it (sorted: that word is the last kept)
        kept.append(w)
    if kept and kept[0] == "":
        return ""
    return _trie_branch(kept, 0, len(kept), 0)


def _trie_branch(words: list[str], lo: int, hi: int, depth: int) -> str:
    """The trie below depth `depth` of words[lo:hi] (sorted, sharing their first `depth` characters,
    none a prefix of another, each longer than `depth`)."""
    alts: list[str] = []
    i = lo
    while i < hi:
        ch = words[i][depth]
        j = i + 1
        while j < hi and words[j][depth] == ch:
            j += 1
        if j == i + 1:  # one word: the rest of it, character by character
            alts.append(re.escape(words[i][depth:]))
        else:
            alts.append(re.escape(ch) + _trie_branch(words, i, j, depth + 1))
        i = j
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


def trie_regex_walk(words: set[str] | frozenset[str]) -> str:
    """trie_regex by a trie of nested dicts, walked recursively: the specification (tests)."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict[str, Any]) -> str:
        if "" in node:  # a shorter word ends here: the longer ones are redundant for a prefilter
            return ""
        alts = [re.escape(ch) + walk(child) for ch, child in sorted(node.items())]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return walk(trie)


# -- the index ----------------------------------------------------------------------------------------

_WORDS = re.compile(r"\w+")
_WORD_KEYS = re.compile(r"\b\w{1,4}")  # the first four characters of every word
_WORD_CHAR = re.compile(r"\w")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what the engine's Unicode \w is


class Index:
    """Every pattern of a lexicon indexed by its literal triggers.

    In spaced scripts a trigger counts only at the start of a word (and a trigger that is a whole
    word of under four letters only as that whole word: the words' first four characters were the
    lookup key), others anywhere; a trigger starting with a non-word character counts at its first
    occurrence. Only the patterns owning a trigger found run, on a window of BACK characters before it
    and FWD after it; a window starts no earlier than the end of the pattern's previous match, so a
    second match close behind the first ("illegal and dangerous") is found like re.finditer would."""

    BACK: ClassVar[int] = 90  # a match may start this far before its trigger
    FWD: ClassVar[int] = 200  # ... and end this far after it
    KEY: ClassVar[int] = 8  # characters of each trigger the C-level scan looks for (fewer: smaller trie, more hits)

    def __init__(self, items: list[tuple[str, str]], by_word: bool):
        self.by_word = by_word
        self.kinds: list[str] = []
        self.patterns: list[str] = []
        self.always: list[int] = []
        self.anchored: list[int] = []  # '^...' patterns: tried once, at the start
        owners: dict[str, list[int]] = {}
        for kind, pat in items:
            i = len(self.patterns)
            self.kinds.append(kind)
            self.patterns.append(pat)
            if pat.startswith("^"):
                self.anchored.append(i)
                continue
            trig = _triggers(pat)
            if not trig or any(not t.strip() for t in trig):
                self.always.append(i)
                continue
            for t in sorted(trig):  # sorted: the same index whatever the set's hash order
                owners.setdefault(t.lstrip(), []).append(i)
        self._rx: list[re.Pattern[str] | None] = [None] * len(self.patterns)
        # per pattern, a regex finding where its matches can start (False: not built yet; None: none)
        self._start_rx: list[re.Pattern[str] | None | bool] = [False] * len(self.patterns)
        # Reference structures (find_reference): first-word keys as the original walk used them.
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
        # Fast structures: the triggers scanned in C, each with the triggers that extend it.
        rank = {t: r for r, t in enumerate(owners)}
        if by_word:
            scanned = [t for t in owners if _WORD_CHAR.match(t)]
        else:
            scanned = [t for t in owners if len(t) >= 2]
        # a trigger of one character in an unspaced script only ever met the text's last character
        self.last_char: dict[str, list[tuple[str, list[int]]]] = {}
        if not by_word:
            for t in owners:
                if len(t) == 1:
                    self.last_char.setdefault(t, []).append((t, owners[t]))
        # The scan looks for the triggers' first KEY characters (a much smaller trie to compile); at a
        # hit, the shortest key there, every trigger found there starts with it: ext[key] lists them.
        keys = sorted({t[:self.KEY] for t in scanned})
        self.ext: dict[str, list[tuple[str, list[int], bool, list[int]]]] = {}
        ordered = sorted(scanned)  # the triggers extending k follow k in lexicographic order
        for k in keys:
            longer = []
            for j in range(bisect_left(ordered, k), len(ordered)):
                t = ordered[j]
                if not t.startswith(k):
                    break
                longer.append(t)
            longer.sort(key=rank.__getitem__)
            # a whole word under four letters: the walk required the text's word to be exactly it
            self.ext[k] = [(t, owners[t], by_word and len(t) < 4 and _WORDS.fullmatch(t) is not None, [])
                           for t in longer]
        # Patterns whose every match starts with one of their triggers (in spaced scripts right after a
        # \b, so at a word start): the leftmost match in a window can only start where the scan met one
        # of their triggers, so the window search becomes anchored tries there. That holds when the
        # pattern's leading literals are its triggers, or when each of its start strings (_starts, which
        # looks into alternations: "\b(?:illegal|discriminat\w*)") begins with one of them.
        self.at_trigger = [False] * len(self.patterns)
        for i, pat in enumerate(self.patterns):
            trig = _triggers(pat)
            start, boundary = _prefix(pat)
            if pat.startswith("^") or not trig or any(t != t.lstrip() for t in trig):
                continue
            if start != trig:
                starts = _starts(pat)
                if not starts or not all(s.startswith(tuple(trig)) for s in starts):
                    continue
            if by_word and not (boundary and all(_WORD_CHAR.match(t) for t in trig)):
                continue
            self.at_trigger[i] = by_word or all(len(t) >= 2 for t in trig)
        # each trigger at a key also lists its at_trigger patterns (their occurrences are collected)
        self.ext = {k: [(t, ids, whole, [i for i in ids if self.at_trigger[i]]) for t, ids, whole, _ in lst]
                    for k, lst in self.ext.items()}
        # The text's start counts as following a non-word character: the scan runs over " " + text.
        # The regex trie of the keys (`_trie`) is built on first use: with the C scan, never.
        self._keys: list[str] = keys
        self._trie_src: str | None = None
        # With the C text scans (textscan.py): a trie of the scanned triggers themselves, which finds
        # every trigger at a position at once (each entry: the trigger's tuple of ext, by rank)
        self._ctrie: tuple[bytes, bytes, bytes, tuple[Any, ...]] | None = None
        if _C is not None and scanned:
            entries: list[Any] = [()] * len(rank)
            for lst in self.ext.values():
                for e in lst:
                    entries[rank[e[0]]] = e
            tables = trigger_trie({t: rank[t] for t in scanned})
            if tables is not None:
                self._ctrie = (*tables, tuple(entries))
        # the odd triggers are looked for only when one of their first two characters' pairs occurs
        self._odd_guard = tuple(dict.fromkeys(t[:2] for t, _ in self.odd))
        self._scans: dict[bool, re.Pattern[str]] = {}  # is the text ASCII -> compiled scan (lazily)
        self._anchor_union: re.Pattern[str] | None | bool = False  # False: not built yet

    @property
    def _trie(self) -> str | None:
        """The regex trie of the scanned triggers' keys (None when no trigger is scanned)."""
        if self._trie_src is None and self._keys:
            self._trie_src = trie_regex(set(self._keys))
        return self._trie_src

    def regex(self, i: int) -> re.Pattern[str]:
        rx = self._rx[i]
        if rx is None:
            rx = self._rx[i] = compiled(self.patterns[i])
        return rx

    def start_regex(self, i: int) -> re.Pattern[str] | None:
        """A regex matching where a match of pattern i can start (a trie of its start strings, which
        the engine skips to in C), or None when they are unknown or too short to pay off."""
        rx = self._start_rx[i]
        if rx is False:
            starts = _starts(self.patterns[i])
            rx = self._start_rx[i] = compiled(trie_regex(starts)) if starts and min(map(len, starts)) >= 2 else None
        return rx  # type: ignore[return-value]

    def _anchor_filter(self) -> re.Pattern[str] | None:
        """One alternation of all '^' patterns: when it does not match, none of them does."""
        if self._anchor_union is False:
            try:
                self._anchor_union = re.compile("|".join(f"(?:{self.patterns[i]})" for i in self.anchored))
            except re.error:  # e.g. duplicate group names across patterns: try each pattern
                self._anchor_union = None
        return self._anchor_union  # type: ignore[return-value]

    def _scan(self, ascii_: bool) -> re.Pattern[str]:
        """The trigger scan: in spaced scripts a non-word character then a trigger (the engine skips
        other characters in C; on ASCII text with re.ASCII, by a bitmap lookup), else any trigger."""
        head = r"\W" if self.by_word else ""
        rx = self._scans[ascii_] = re.compile(head + "(" + self._trie + ")", re.ASCII if ascii_ else 0)  # type: ignore[operator]
        return rx

    def _trigger_hits(self, text: str) -> Any:
        """(position, (trigger, pattern ids, whole word?, at_trigger ids)) for every trigger occurrence, in
        the order the reference walk finds them: the C scan (every trigger at each position) when built,
        else the regex trie scan with the triggers that start with the key found there."""
        ctrie = self._ctrie
        if ctrie is not None:
            return _C.scan_triggers(text, ctrie[0], ctrie[1], ctrie[2], ctrie[3], self.by_word)
        hits: list[tuple[int, tuple[str, list[int], bool, list[int]]]] = []
        if self._trie is None:
            return hits
        ascii_ = self.by_word and text.isascii()  # re.ASCII only changes \W
        scan = self._scans.get(ascii_) or self._scan(ascii_)
        ext, startswith = self.ext, text.startswith
        if self.by_word:
            scanned, shift = " " + text, 1  # position k of the padded text is k - 1 of text
        else:
            scanned, shift = text, 0
        m = scan.search(scanned)
        while m is not None:
            k = m.start(1)
            p = k - shift
            for entry in ext[m.group(1)]:  # the triggers at p: all start with the shortest key found there
                if startswith(entry[0], p):
                    hits.append((p, entry))
            m = scan.search(scanned, k + 1 - shift)
        return hits

    def _candidates(self, text: str) -> tuple[list[tuple[int, str, list[int]]], dict[int, list[int]]]:
        """(position, trigger, pattern ids) in the order the reference walk finds them, and where each
        at_trigger pattern's triggers occur (ascending)."""
        out: list[tuple[int, str, list[int]]] = []
        occ: dict[int, list[int]] = {}
        n = len(text)
        for p, (t, ids, whole, tids) in self._trigger_hits(text):
            for i in tids:
                lst = occ.get(i)
                if lst is None:
                    occ[i] = [p]
                else:
                    lst.append(p)
            q = p + len(t)
            if whole and q < n and _is_word(text[q]):
                continue  # "no" is not a trigger in "not" (but `occ` has it: a match may start there)
            out.append((p, t, ids))
        if self.by_word:
            if any(g in text for g in self._odd_guard):
                for t, ids in self.odd:
                    p = text.find(t)
                    if p >= 0:
                        out.append((p, t, ids))
        elif self.last_char and text:
            out += [(len(text) - 1, t, ids) for t, ids in self.last_char.get(text[-1], ())]
        return out, occ

    def find(self, text: str) -> Spans:
        """kind -> sorted, de-duplicated (start, end) spans of matches in text: `find_reference`, with
        window searches replaced by anchored tries where a match can start."""
        cands, occ = self._candidates(text)
        out: dict[str, set[tuple[int, int]]] = {}
        if self.anchored or self.always:
            anchor = self._anchor_union
            self._tries(text, out, self._anchor_filter() if anchor is False else anchor)  # type: ignore[arg-type]
        if not cands:
            return {k: sorted(v) for k, v in out.items()}
        kinds, at_trigger, rxs = self.kinds, self.at_trigger, self._rx
        back, fwd = self.BACK, self.FWD
        done: dict[int, tuple[int, int]] = {}
        n = len(text)
        for p, t, ids in cands:
            for i in ids:
                prev = done.get(i)
                lo, hi = p - back, p + len(t) + fwd
                if prev is not None:
                    if prev[0] <= p < prev[1]:
                        continue
                    if lo < prev[1] <= p:  # resume after the previous match, or it is found again
                        lo = prev[1]
                if lo < 0:
                    lo = 0
                if hi > n:
                    hi = n
                rx = rxs[i] or self.regex(i)
                m = None
                if at_trigger[i]:
                    # the leftmost match in [lo, hi) starts at one of the pattern's trigger positions
                    for q in occ[i]:
                        if q >= hi:
                            break
                        if q >= lo:
                            m = rx.match(text, q, hi)
                            if m:
                                break
                else:
                    start = self._start_rx[i]
                    if start is False:
                        start = self.start_regex(i)
                    if start is None:
                        m = rx.search(text, lo, hi)
                    else:
                        # the leftmost match in [lo, hi) starts where one of its start strings does:
                        # anchored tries there instead of trying the pattern at every position
                        s = start.search(text, lo, hi)  # type: ignore[union-attr]
                        while s is not None:
                            q = s.start()
                            m = rx.match(text, q, hi)
                            if m:
                                break
                            s = start.search(text, q + 1, hi)  # type: ignore[union-attr]
                if m:
                    span = done[i] = m.span()
                    got = out.get(kinds[i])
                    if got is None:
                        out[kinds[i]] = {span}
                    else:
                        got.add(span)
        return {k: sorted(v) for k, v in out.items()}

    def _tries(self, text: str, out: dict[str, set[tuple[int, int]]], anchor: re.Pattern[str] | None) -> None:
        """The '^' patterns (when `anchor`, their alternation, matches or is None) and the patterns
        without triggers, into out."""
        kinds = self.kinds
        if self.anchored and (anchor is None or anchor.match(text)):
            for i in self.anchored:
                m = self.regex(i).match(text)
                if m:
                    out.setdefault(kinds[i], set()).add(m.span())
        for i in self.always:
            m = self.regex(i).search(text)
            if m:
                out.setdefault(kinds[i], set()).add(m.span())

    # -- the specification ------------------------------------------------------------------------

    def _reference_candidates(self, text: str) -> list[tuple[int, str, list[int]]]:
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

    def find_reference(self, text: str) -> Spans:
        """`find` by the original word-by-word (or character-by-character) walk, no shortcuts: every
        pattern owning a trigger found is searched on the window around it."""
        out: dict[str, set[tuple[int, int]]] = {}
        self._tries(text, out, None)
        kinds = self.kinds
        done: dict[int, tuple[int, int]] = {}
        n = len(text)
        for p, t, ids in self._reference_candidates(text):
            for i in ids:
                prev = done.get(i)
                lo = max(0, p - self.BACK)
                if prev is not None:
                    if prev[0] <= p < prev[1]:
                        continue
                    if lo < prev[1] <= p:  # a second match of the pattern starts after the first
                        lo = prev[1]
                m = self.regex(i).search(text, lo, min(n, p + len(t) + self.FWD))
                if m:
                    done[i] = m.span()
                    out.setdefault(kinds[i], set()).add(m.span())
        return {k: sorted(v) for k, v in out.items()}
