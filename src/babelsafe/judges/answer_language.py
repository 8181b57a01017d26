"""The language of an answer: cheap evidence first (Unicode script, a stop-word vote), lingua only for
inconclusive Latin-script text; what a verdict reports (a name only on enough evidence, else 'und').

check_language: is a text plausibly in the expected language (the `off_language` option).
language_evidence / language_vote / answer_language: the lexicon language(s) an answer is written in.
reported_language: the name a verdict records (`answer_language`), never a wrong one: 'und' for a
close Malay/Indonesian call, a Latin language without a lexicon, Bulgarian, Yiddish, Coptic ...
"""
from __future__ import annotations

import re
from collections import _count_elements  # type: ignore[attr-defined]
from itertools import chain
from operator import methodcaller
from typing import Any, Callable

from .. import languages as _languages
from ..text import ACCEPTABLE
from ..text import SCRIPT_NAME as _SCRIPT_NAME
from ..text import expected_script as _expected_script
from ..text import lexicon_word_lists as _lexicon_word_lists
from ..text import normalize as _normalize
from ..text import stopword_index
from .answer_text import dominant_script, normalize, script_profile
from .textscan import C as _C


_LINGUA_SET = ("en", "es", "fr", "de", "pt", "it", "vi", "sw", "id", "ms", "nl", "tr", "pl", "tl", "ro",
               "ca", "so", "yo", "zu", "af", "cs", "sv", "da", "hu", "fi")


def _lingua_detect(text: str, expected: str) -> str | None:
    """ISO 639-1 code lingua assigns to text (among a moderate Latin-script set), or None."""
    codes = _LINGUA_SET if expected in _LINGUA_SET else _LINGUA_SET + (expected,)
    det = _languages.lingua_detector(codes)
    lang = det.detect_language_of(text)
    return lang.iso_code_639_1.name.lower() if lang is not None else None


_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def check_language(text: str, expected: str, min_letters: int = 24) -> tuple[bool, str | None, str]:
    """Whether `text` is plausibly written in `expected`: (ok, detected code or script, how).

    Short texts (< min_letters weighted letters) always pass. Script first; Latin-script answers get a
    stop-word vote and only then lingua.
    """
    text = text[:300]
    prof = script_profile(text)
    total = sum(prof.values())
    if total < min_letters:
        return True, None, "short"
    exp = _expected_script(expected)
    if exp is None:
        return True, None, "unknown-language"
    if exp == "J":
        share = (prof.get("J", 0) + prof.get("H", 0)) / total
        if share >= 0.3 and prof.get("J", 0) == 0 and prof.get("H", 0) >= 30:
            return False, "zh", "script"  # Han without any kana: Chinese, not Japanese
    elif exp == "H":
        share = prof.get("H", 0) / total
        if prof.get("J", 0) > 0.25 * (prof.get("H", 0) + prof.get("J", 0)):
            return False, "ja", "script"
        share += prof.get("J", 0) / total
    else:
        share = prof.get(exp, 0) / total
    if share < 0.3:
        dom = max(prof, key=prof.__getitem__)
        return False, _SCRIPT_NAME.get(dom, dom), "script"
    if exp != "L":
        return True, None, "script"
    # Latin script: stop-word vote, then lingua.
    words = _WORD.findall(_normalize(text))
    if len(words) < 8:
        return True, None, "short"
    index = stopword_index()
    votes: dict[str, int] = {}
    for w in words[:80]:
        for c in index.get(w, ()):
            votes[c] = votes.get(c, 0) + 1
    acceptable = ACCEPTABLE.get(expected, {expected})
    mine = max((votes.get(c, 0) for c in acceptable), default=0)
    best_other = max((v for c, v in votes.items() if c not in acceptable), default=0)
    if (mine >= 3 and mine >= best_other) or (mine >= 2 and best_other < mine) or (mine >= 1 and best_other == 0):
        return True, expected, "stopwords"
    if mine == 0 and best_other >= 3:
        other = max((c for c in votes if c not in acceptable), key=votes.__getitem__)
        return False, other, "stopwords"
    detected = _lingua_detect(text, expected)
    if detected is None or detected in acceptable:
        return True, detected, "lingua"
    if expected not in _LINGUA_SET and expected not in {"jv", "su"} and mine >= 2:
        return True, expected, "stopwords"  # lingua may not know it; trust what evidence we have
    return False, detected, "lingua"



_STRIP_PUNCT = methodcaller("strip", ".,;:!?\"'()")
_SCRIPT_LANGUAGE = {"C": "ru", "A": "ar", "D": "hi", "B": "bn", "T": "th", "K": "ko", "J": "ja", "H": "zh",
                    "G": "el", "E": "he"}


def _stopword_votes_py(head: str, index: dict[str, tuple[str, ...]], max_words: int) -> dict[str, int]:
    """{language: its stop words among the first max_words words of head} in first-vote order."""
    if "'" in head:  # elisions (French qu'/l'/d', Italian dell'): the word after the apostrophe votes
        head = head.replace("'", "' ")
    hits: Any = filter(None, map(index.get, map(_STRIP_PUNCT, head.split()[:max_words])))
    votes: dict[str, int] = {}
    _count_elements(votes, chain.from_iterable(hits))  # what Counter(...) runs, without its wrapper
    return votes


# the stop-word vote (in C: no list of words, no stripped copies but the one looked up)
stopword_votes: Callable[[str, dict[str, tuple[str, ...]], int], dict[str, int]] = (
    _C.stopword_votes if _C is not None else _stopword_votes_py)


def distinct_votes(head: str, index: dict[str, tuple[str, ...]], max_words: int, lang: str) -> int:
    """How many different words of `lang` the stop-word vote (stopword_votes) counted: 'e e i' is three
    Italian votes but two words."""
    if "'" in head:
        head = head.replace("'", "' ")
    return len({w for w in map(_STRIP_PUNCT, head.split()[:max_words]) if lang in (index.get(w) or ())})




def _neighbours() -> dict[str, tuple[str, ...]]:
    """Lexicon neighbourhoods (lexicon.NEIGHBOURS: languages searched together), imported late
    because lexicon imports this module."""
    global _NEIGHBOURS
    if _NEIGHBOURS is None:
        from .lexicon import NEIGHBOURS

        _NEIGHBOURS = NEIGHBOURS
    return _NEIGHBOURS


_NEIGHBOURS: dict[str, tuple[str, ...]] | None = None


def answer_language(text: str, prof: dict[str, float] | None = None,
                    head_norm: str | None = None, prior: str | None = None) -> tuple[str | None, str | None]:
    """(language code or None, script name) an answer is written in, from cheap evidence only.

    Script decides for non-Latin scripts (the one lexicon language of the script); Latin text gets a stop-word vote among the
    lexicon languages ('und' when the vote is too thin or split between unrelated languages). A vote
    split among neighbours (Malay/Indonesian share most stop words; es/pt/it/fr many) goes to the
    leader; an exact tie to `prior` (the prompt's language) when it is among the tied. No model, no
    lingua: this runs per verdict. (The language whose lexicons the judge searches: `language_vote`
    also says whether the evidence is enough to report it.)"""
    lang, name, _ = language_vote(text, prof, head_norm, prior)
    return lang, name


SURE_VOTES = 2  # different stop words of the named language a Latin opening needs before it is reported


def language_vote(text: str, prof: dict[str, float] | None = None, head_norm: str | None = None,
                  prior: str | None = None) -> tuple[str | None, str | None, bool]:
    """answer_language, and whether the language may be reported as the answer's: a script's language,
    or a Latin vote with at least SURE_VOTES different stop words of it. One stop word chooses the
    lexicons to search (a short answer has no more) but does not name a language: Maori, Tagalog or
    Turkish text often holds one Italian or Spanish stop word ('e', 'a', 'la'), Maori 'e' several times."""
    lang, name, sure, _ = language_evidence(text, prof, head_norm, prior)
    return lang, name, sure


def language_evidence(text: str, prof: dict[str, float] | None = None, head_norm: str | None = None,
                      prior: str | None = None) -> tuple[str | None, str | None, bool, bool]:
    """language_vote, and whether a Latin opening's vote met a function word of a language without a
    lexicon (data/other_languages.yaml): counted by the vote's own scan, so free, and left out of the
    vote; reported_language then looks for a second one in the whole opening."""
    prof = script_profile(text[:200]) if prof is None else prof
    script = dominant_script(prof)
    if script is None:
        return None, None, False, False
    name = _SCRIPT_NAME.get(script, script)
    if script != "L":
        lang = _SCRIPT_LANGUAGE.get(script)
        return lang, name, lang is not None and _script_named(script, text[:300]), False
    head = _normalize(text[:400]) if head_norm is None else head_norm
    # votes in first-vote order (ties go to the language voted for first)
    index, others = _vote_index()
    votes = stopword_votes(head, index, 40)
    other = not others.isdisjoint(votes)
    if other:  # words of languages without a lexicon: no vote (the lexicons searched stay the same)
        votes = {c: n for c, n in votes.items() if c not in others}
    if not votes:
        return "und", name, False, other
    best = max(votes, key=votes.__getitem__)
    top = votes[best]
    second = max((v for c, v in votes.items() if c != best), default=0)
    if top >= 2 and top >= 1.5 * second:
        return best, name, _named(head, index, best, top), other
    # A thin or close vote: mixed-language text is 'und' (the judge then searches every Latin-script
    # lexicon), unless the voters are neighbours, whose lexicons are searched with the leader's anyway:
    # all of them (a short answer: one stop word is enough), or every close rival when the leader has 2+.
    near = _neighbours().get(best, ())
    if all(c in near for c in votes if c != best) or (
            top >= 2 and all(c in near for c, v in votes.items() if c != best and 1.5 * v > top)):
        if prior is not None and prior != best and votes.get(prior) == top:
            # an exact tie (ms/id answers often have no word of one alone)
            return prior, name, _named(head, index, prior, top), other
        return best, name, _named(head, index, best, top), other
    return "und", name, False, other


def _named(head: str, index: dict[str, tuple[str, ...]], lang: str, votes: int) -> bool:
    """Whether `votes` stop words of `lang` name it (language_vote). Two or three votes may be one word
    said again, so only there are the different words counted: 4+ votes in an opening of 40 words are not
    one stop word repeated in practice, and the count is a pass over the words."""
    return votes > 3 or (votes >= SURE_VOTES and distinct_votes(head, index, 40, lang) >= SURE_VOTES)


def reported_language(lang: str | None, sure: bool, head_norm: str, prior: str | None = None,
                      other_words: bool = True) -> str | None:
    """The language a verdict reports (extra.answer_language), from language_vote's (lang, sure): 'und'
    when the vote is not sure. `head_norm` is the normalised Latin opening ('' for other scripts, whose
    languages _script_named tells apart). A Latin opening of a language without a lexicon is 'und', not
    the lexicon language its stop words resemble (Catalan is not es, Dutch not en, Croatian not pt):
    two different words holding a letter no Latin lexicon language writes (č ł ř ı ș ő å ...), or two
    different function words of one such language (data/other_languages.yaml), looked for in the whole
    opening only when the vote met one (`other_words`: language_evidence's last item). Lexicon neighbours
    that share most function words (Malay and Indonesian: the vote's tie-break cannot tell them) are told
    apart by the lexicons' `neighbour_words`: words of one of them only names it, words of both are
    'und', none names the prompt's language when it is one of them (the text is then valid in it: "Maaf,
    saya tidak dapat membantu." is Malay and Indonesian) and is 'und' otherwise."""
    if lang is None or not sure:
        return "und" if lang is not None else None
    if not head_norm:
        return lang
    neighbours, index, letter, letter_word = _report_words()
    if not head_norm.isascii() and letter.search(head_norm) is not None and len(
            set(letter_word.findall(head_norm))) >= SURE_VOTES:
        return "und"  # two different words with a letter no Latin lexicon language writes
    codes = neighbours.get(lang)
    if codes is None and not other_words:
        return lang
    # one scan of the opening (the stop-word vote's, in C when built): {language: its words found}
    found = stopword_votes(head_norm, index, 120)
    if other_words:
        for code, n in found.items():
            if n >= SURE_VOTES and code not in _NEIGHBOUR_CODES and distinct_votes(
                    head_norm, index, 120, code) >= SURE_VOTES:
                return "und"  # two different function words of a language without a lexicon
    if codes is None:
        return lang
    mine = [c for c in found if c in codes]
    if len(mine) == 1:
        return mine[0]
    if not mine and prior in codes:
        return prior
    return "und"


def _other_latin() -> tuple[dict[str, tuple[str, ...]], str]:
    """({language without a lexicon: its function words}, its letters), normalised, from
    data/other_languages.yaml, read once."""
    global _OTHER_LATIN
    if _OTHER_LATIN is None:
        import yaml
        from importlib import resources

        loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # every word stays a string
        f = resources.files("babelsafe.judges").joinpath("data", "other_languages.yaml")
        data: Any = yaml.load(f.read_text("utf-8"), Loader=loader)
        words = {str(code): tuple(_normalize(str(w)) for w in ws) for code, ws in data["words"].items()}
        _OTHER_LATIN = (words, _normalize(str(data["letters"])))
    return _OTHER_LATIN


_OTHER_LATIN: tuple[dict[str, tuple[str, ...]], str] | None = None


def _merged(lists: dict[str, tuple[str, ...]], base: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """base ({word: languages}) plus each list's words under its language."""
    index = dict(base)
    for code, words in lists.items():
        for w in words:
            if code not in index.get(w, ()):
                index[w] = index.get(w, ()) + (code,)
    return index


def _vote_index() -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """(the stop-word index plus the function words of languages without a lexicon, those languages):
    the Latin vote's index, read once."""
    global _VOTE_INDEX
    if _VOTE_INDEX is None:
        others = _other_latin()[0]
        _VOTE_INDEX = (_merged(others, stopword_index()), frozenset(others))
    return _VOTE_INDEX


_VOTE_INDEX: tuple[dict[str, tuple[str, ...]], frozenset[str]] | None = None
_Report = tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]], re.Pattern[str], re.Pattern[str]]
_REPORT: _Report | None = None
_NEIGHBOUR_CODES: frozenset[str] = frozenset()


def _report_words() -> _Report:
    """({language with `neighbour_words` (ms, id): it and its lexicon neighbours that have them},
    {word: the languages it is a word of}, a letter no Latin lexicon language writes, a word holding
    one): the lexicons' `neighbour_words` and the function words and letters of languages without a
    lexicon (data/other_languages.yaml), read once; one word index, so one scan per answer."""
    global _REPORT, _NEIGHBOUR_CODES
    if _REPORT is None:
        others, letters = _other_latin()
        lists = _lexicon_word_lists("neighbour_words")
        near = _neighbours()
        neighbours = {lang: tuple(c for c in near.get(lang, (lang,)) if c in lists) for lang in lists}
        chars = re.escape(letters)
        _NEIGHBOUR_CODES = frozenset(lists)
        _REPORT = (neighbours, _merged(others, _merged(lists, {})), re.compile(f"[{chars}]"),
                   re.compile(f"[^\\W\\d_]*[{chars}][^\\W\\d_]*"))
    return _REPORT


# Letters of other languages of a shared script that the lexicon's language does not write: Ukrainian і ї є ґ,
# Belarusian ў, Kazakh/Kyrgyz/Tajik/Tatar/Bashkir/Chuvash ә ғ қ ң ө ұ ү һ ӣ ӯ ҳ ҷ..., Serbian/Macedonian
# ђ ј љ њ ћ џ ѓ ќ ѕ; Persian/Urdu/Pashto/Kurdish/Uyghur پ چ ژ گ ک ی ٹ ڈ ڑ ں ے ھ...; Marathi ळ; Assamese ৰ ৱ;
# kana and Cantonese characters in Han text; Yiddish װ ױ ײ ײַ in Hebrew script (Modern Hebrew writes וו and יי);
# Coptic ϣ ϥ ϧ ϩ ϫ ϭ ϯ (the Greek block's Coptic letters) in Greek script.
_OTHER_LETTERS: dict[str, frozenset[str]] = {
    "C": frozenset("іїєґўәғқңөұүһђјљњћџѓќѕӣӯҳҷӑӗҫӳҙҡӊӧӱӹ"),
    "A": frozenset("پچژگکیٹڈڑںےھۀۓښږځڅډړڼۍېۆێڵڕۋۇۈەﮐﯾ"),
    "D": frozenset("ळ"),
    "B": frozenset("ৰৱ"),
    "H": frozenset("ぁあぃいぅうぇえぉおかがきぎくぐけげこごさざしじすずせぜそぞただちぢっつづてでとどなにぬねのはばぱひびぴ"
                   "ふぶぷへべぺほぼぽまみむめもゃやゅゆょよらりるれろわをんァアィイゥウェエォオカガキギクグケゲコゴサザ"
                   "シジスズセゼソゾタダチヂッツヅテデトドナニヌネノハバパヒビピフブプヘベペホボポマミムメモャヤュユョヨ"
                   "ラリルレロワヲンヴー係唔嘅咗喺佢冇哋啲嘢"),
    "E": frozenset("\u05f0\u05f1\u05f2\ufb1f"),
    "G": frozenset("ϣϥϧϩϫϭϯ"),
}
# Signs of another language of the script that are no single letter: Bulgarian's ъ before a consonant or at
# a word's end (въпрос, към, съм; Russian writes ъ only before е ё ю я: объект, подъезд) and ѝ (Bulgarian,
# Macedonian; looked for in normalised text, which composes и + grave); Yiddish's pointed alef and pe
# (אַ אָ פֿ: ordinary Yiddish spelling, in Modern Hebrew only in fully pointed text).
_OTHER_SIGNS: dict[str, re.Pattern[str]] = {
    "C": re.compile("ъ(?=[^еёюя])|ѝ"),
    "E": re.compile("\u05d0[\u05b7\u05b8]|\u05e4\u05bf"),
}
# Function words of another language of the script (two different ones make the text 'und'): Bulgarian
# (това, които, съм, са, ще, че, със, към, също, ако, няма ...: Russian это, которые, есть, будет, что, с,
# к, также, если, нет) and Yiddish (איז is, און and, נישט/ניט not, מיט with, וואס what, האט has, אויך also,
# אויף on, דער/דעם the, זענען/זיינען are, קען can, מען one, פון of: not Hebrew words).
_OTHER_WORDS: dict[str, frozenset[str]] = {
    "C": frozenset("това този тази тези които който която което съм са ще че със във към също ако само "
                   "няма какво защо обаче вече нещо всичко тук ги му".split()),
    "E": frozenset("איז און נישט ניט מיט וואס האט אויך אויף דער דעם זענען זיינען קען מען פון".split()),
}
# _OTHER_LETTERS as one character class each: a class search in C finds one in the text without making a
# string of each character and hashing it, as frozenset.isdisjoint(text) does (the same answer: a test checks)
_OTHER_LETTER_CLASS: dict[str, re.Pattern[str]] = {
    script: re.compile("[" + "".join(re.escape(ch) for ch in sorted(letters)) + "]")
    for script, letters in _OTHER_LETTERS.items()}
_SCRIPT_PUNCT = methodcaller("strip", ".,;:!?\"'()«»„“”—-،؛؟।॥")


def _script_named(script: str, text: str) -> bool:
    """Whether a non-Latin answer may be reported in its script's language (language_vote). No letter,
    sign (_OTHER_SIGNS) or two function words (_OTHER_WORDS) of another language of the script may be
    there: Ukrainian, Kyrgyz or Bulgarian text is not reported as Russian, Yiddish not as Hebrew. Then a
    script that one lexicon language writes (Thai, Hangul, kana) or that has no lexicon (Greek, Hebrew)
    names its language; a shared one with a lexicon (Cyrillic: Russian, Ukrainian, Kyrgyz...; Arabic:
    Arabic, Persian, Urdu; Devanagari: Hindi, Marathi, Nepali; Bengali: Bengali, Assamese; Han: Chinese,
    Cantonese, kanji) only with SURE_VOTES different words (Han: characters) of the lexicon's
    `script_stopwords`. The lexicons searched do not depend on this: only the language reported."""
    other = _OTHER_LETTER_CLASS.get(script)
    if other is not None and other.search(text.lower()) is not None:  # not _OTHER_LETTERS[script].isdisjoint(...)
        return False
    words = _script_stopwords().get(script)
    signs = _OTHER_SIGNS.get(script)
    if words is None and signs is None:
        return True
    norm = normalize(text)  # (remembered: extract's head opens with the same characters)
    if signs is not None:
        if signs.search(norm) is not None:
            return False
        tokens = set(map(_SCRIPT_PUNCT, norm.split()))
        if len(_OTHER_WORDS[script].intersection(tokens)) >= SURE_VOTES:
            return False
        if words is None:
            return True
        return len(words.intersection(tokens)) >= SURE_VOTES
    if words is None:
        return True
    if script == "H":  # len(words.intersection(norm)): the words of one character found (a class search)
        chars = _script_chars().get(script)
        return chars is not None and len(set(chars.findall(norm))) >= SURE_VOTES
    return len(words.intersection(map(_SCRIPT_PUNCT, norm.split()))) >= SURE_VOTES


def _script_stopwords() -> dict[str, frozenset[str]]:
    """{script code: the normalised `script_stopwords` of its lexicon language}, read once."""
    global _SCRIPT_WORDS
    if _SCRIPT_WORDS is None:
        lists = _lexicon_word_lists("script_stopwords")
        _SCRIPT_WORDS = {script: frozenset(lists[lang]) for script, lang in _SCRIPT_LANGUAGE.items()
                         if lang in lists}
    return _SCRIPT_WORDS


_SCRIPT_WORDS: dict[str, frozenset[str]] | None = None


def _script_chars() -> dict[str, re.Pattern[str]]:
    """{script code: a character class of its `script_stopwords` of one character}: set(class.findall(text))
    is words.intersection(text), iterated by character (a word of two characters never matches one)."""
    global _SCRIPT_CHARS
    if _SCRIPT_CHARS is None:
        _SCRIPT_CHARS = {script: re.compile("[" + "".join(re.escape(w) for w in sorted(words) if len(w) == 1) + "]")
                         for script, words in _script_stopwords().items() if any(len(w) == 1 for w in words)}
    return _SCRIPT_CHARS


_SCRIPT_CHARS: dict[str, re.Pattern[str]] | None = None
