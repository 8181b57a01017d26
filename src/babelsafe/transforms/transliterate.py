"""`transliterate`: romanise non-Latin scripts with small built-in tables (Cyrillic, Greek, Brahmic
scripts, Thai, Arabic/Persian/Urdu, Hangul) and, for other scripts such as Chinese or Japanese, the
optional `unidecode` package (`pip install 'babelsafe[translit]'`)."""
from __future__ import annotations

import logging
import unicodedata
from typing import Any

from ..types import Probe
from .base import check_choice, derive, skipped

log = logging.getLogger("babelsafe.transforms")

# A prompt is only sent as "romanised" when at least this share of its non-Latin letters was romanised.
MIN_ROMANISED = 0.9

# --- Cyrillic (Russian, Ukrainian, Belarusian, Bulgarian, Serbian, Macedonian), simple BGN-like ---------
_CYR = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґђјљњћџѓѕќў",
    "a b v g d e yo zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya i yi ye g dj j lj nj c dz gj dz kj w"
    .split()))
_CYR = {k: ("" if v == "_" else v) for k, v in _CYR.items()}

# --- Greek (modern, simple) -------------------------------------------------------------------------------
_GRK = dict(zip("αβγδεζηθικλμνξοπρσςτυφχψω",
                "a v g d e z i th i k l m n x o p r s s t y f ch ps o".split()))

# --- Brahmic scripts: one table in Devanagari offsets (the ISCII-derived blocks share the layout) --------
_BRAHMIC_BLOCKS = {0x0900: "Devanagari", 0x0980: "Bengali", 0x0A00: "Gurmukhi", 0x0A80: "Gujarati",
                   0x0B00: "Oriya", 0x0B80: "Tamil", 0x0C00: "Telugu", 0x0C80: "Kannada", 0x0D00: "Malayalam"}
_B_VOWELS = {0x05: "a", 0x06: "aa", 0x07: "i", 0x08: "ii", 0x09: "u", 0x0A: "uu", 0x0B: "ri", 0x0C: "li",
             0x0D: "e", 0x0E: "e", 0x0F: "e", 0x10: "ai", 0x11: "o", 0x12: "o", 0x13: "o", 0x14: "au",
             0x60: "rii", 0x61: "lii"}
_B_CONS = dict(zip(range(0x15, 0x3A), (
    "k kh g gh ng ch chh j jh ny t th d dh n t th d dh n n p ph b bh m y r r l l zh v sh sh s h".split())))
_B_SIGNS = {0x3E: "aa", 0x3F: "i", 0x40: "ii", 0x41: "u", 0x42: "uu", 0x43: "ri", 0x44: "rii", 0x45: "e",
            0x46: "e", 0x47: "e", 0x48: "ai", 0x49: "o", 0x4A: "o", 0x4B: "o", 0x4C: "au", 0x62: "li",
            0x63: "lii"}
_B_NUKTA = {"k": "q", "kh": "kh", "g": "gh", "j": "z", "d": "r", "dh": "rh", "ph": "f", "y": "y"}
_B_OTHER = {0x01: "n", 0x02: "n", 0x03: "h", 0x3D: "'", 0x50: "om", 0x64: ".", 0x65: ".", 0x70: ".",
            0x5C: "r", 0x5D: "rh", 0x5F: "y", 0x4E: "t"}  # 0x5C-0x5F: Bengali rra/rha/yya; 0x4E: Bengali khanda ta
_VIRAMA, _NUKTA = 0x4D, 0x3C
_SCHWA_DELETION = {0x0900, 0x0980, 0x0A00, 0x0A80}  # Indo-Aryan scripts drop a word-final inherent vowel

# --- Thai (approximate, RTGS-like, character based; tone marks dropped) ----------------------------------
_THAI_CONS = dict(zip("กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรฤลฦวศษสหฬอฮ",
                      "k kh kh kh kh kh ng ch ch ch s ch y d t th th th n d t th th th n b p ph f ph f ph m y r rue "
                      "l lue w s s s h l o h".split()))
_THAI_VOW = {"ะ": "a", "ั": "a", "า": "a", "ำ": "am", "ิ": "i", "ี": "i", "ึ": "ue", "ื": "ue", "ุ": "u",
             "ู": "u", "ๅ": "", "ๆ": "", "็": "", "่": "", "้": "", "๊": "", "๋": "", "์": "", "ํ": "",
             "ฯ": "", "ฺ": "", "๏": ""}
_THAI_PRE = {"เ": "e", "แ": "ae", "โ": "o", "ใ": "ai", "ไ": "ai"}  # written before the consonant

# --- Arabic script (Arabic, Persian, Urdu letters; short-vowel marks when written) -----------------------
_ARA = {"ا": "a", "أ": "a", "إ": "i", "آ": "aa", "ٱ": "a", "ب": "b", "ت": "t", "ث": "th", "ج": "j", "ح": "h",
        "خ": "kh", "د": "d", "ذ": "dh", "ر": "r", "ز": "z", "س": "s", "ش": "sh", "ص": "s", "ض": "d", "ط": "t",
        "ظ": "z", "ع": "'", "غ": "gh", "ف": "f", "ق": "q", "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h",
        "و": "w", "ي": "y", "ى": "a", "ة": "a", "ء": "'", "ؤ": "'", "ئ": "'", "پ": "p", "چ": "ch", "ژ": "zh",
        "گ": "g", "ک": "k", "ی": "y", "ٹ": "t", "ڈ": "d", "ڑ": "r", "ں": "n", "ھ": "h", "ہ": "h", "ے": "e",
        "ۃ": "a", "َ": "a", "ِ": "i", "ُ": "u", "ً": "an", "ٍ": "in", "ٌ": "un", "ْ": "", "ّ": "", "ـ": "",
        "،": ",", "؟": "?", "؛": ";", "٪": "%", "۔": "."}
for _i in range(10):
    _ARA[chr(0x0660 + _i)] = str(_i)
    _ARA[chr(0x06F0 + _i)] = str(_i)

# --- Hangul (Revised Romanization, syllable by syllable, without sound-change rules) ---------------------
_H_INIT = "g kk n d tt r m b pp s ss _ j jj ch k t p h".split()
_H_MED = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()
_H_FIN = "_ k k ks n nj nh t l lk lm lb ls lt lp lh m p ps t t ng t t k t p t".split()


def _hangul(cp: int) -> str:
    i = cp - 0xAC00
    ini, med, fin = i // 588, (i % 588) // 28, i % 28
    return "".join(x for x in (_H_INIT[ini], _H_MED[med], _H_FIN[fin]) if x != "_")


def _case(src: str, out: str) -> str:
    return out[:1].upper() + out[1:] if src.isupper() and out else out


def _brahmic_block(cp: int) -> int | None:
    base = cp & ~0x7F
    return base if base in _BRAHMIC_BLOCKS else None


def romanize_table(text: str) -> tuple[str, int]:
    """Romanise with the built-in tables. Returns (text, number of non-Latin letters left unmapped)."""
    out: list[str] = []
    unmapped = 0
    pending_a = False  # Brahmic consonant waiting for its inherent vowel
    pending_block = 0
    thai_pre = ""  # Thai vowel written before its consonant
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        cp = ord(ch)
        block = _brahmic_block(cp)
        if pending_a and (block is None or (cp - block) not in _B_SIGNS and (cp - block) not in (_VIRAMA, _NUKTA)):
            # inherent vowel, dropped at the end of a word (schwa deletion) unless the word is one consonant
            nxt_letter = block is not None and ((cp - block) in _B_CONS or (cp - block) in _B_VOWELS
                                                or (cp - block) in (0x01, 0x02, 0x03))
            if nxt_letter or pending_block not in _SCHWA_DELETION or len(out) < 2 or not out[-2].isalpha():
                out.append("a")
            pending_a = False
        if block is not None:
            off = cp - block
            if off in _B_CONS:
                cons = _B_CONS[off]
                if i + 1 < n and ord(text[i + 1]) - block == _NUKTA:
                    cons = _B_NUKTA.get(cons, cons)
                    i += 1
                out.append(cons)
                pending_a, pending_block = True, block
            elif off in _B_SIGNS:
                out.append(_B_SIGNS[off])
                pending_a = False
            elif off in _B_VOWELS:
                out.append(_B_VOWELS[off])
            elif off == _VIRAMA:
                pending_a = False
            elif off == _NUKTA:
                pass
            elif 0x66 <= off <= 0x6F:
                out.append(str(off - 0x66))
            elif off in _B_OTHER:
                out.append(_B_OTHER[off])
                pending_a, pending_block = off in (0x5C, 0x5D, 0x5F), block
            else:
                unmapped += 1
                out.append(ch)
            i += 1
            continue
        low = ch.lower()
        if low in _CYR:
            out.append(_case(ch, _CYR[low]))
        elif low == "ο" and i + 1 < n and unicodedata.normalize("NFD", text[i + 1].lower())[0] == "υ":
            out.append(_case(ch, "ou"))
            i += 1
        elif "\u0370" <= ch <= "\u03ff" or "\u1f00" <= ch <= "\u1fff":
            base = unicodedata.normalize("NFD", low)[0]
            if base in _GRK:
                out.append(_case(ch, _GRK[base]))
            elif unicodedata.category(ch).startswith("M") or not ch.isalpha():
                out.append(";" if ch == "\u037e" else ("" if unicodedata.category(ch).startswith("M") else ch))
            else:
                unmapped += 1
                out.append(ch)
        elif "\u0e00" <= ch <= "\u0e7f":
            if ch in _THAI_PRE:
                thai_pre += _THAI_PRE[ch]
            elif ch in _THAI_CONS:
                out.append(_THAI_CONS[ch] + thai_pre)
                thai_pre = ""
            elif ch in _THAI_VOW:
                out.append(_THAI_VOW[ch])
            elif "\u0e50" <= ch <= "\u0e59":
                out.append(str(ord(ch) - 0x0E50))
            else:
                unmapped += 1
                out.append(ch)
        elif ch in _ARA:
            out.append(_ARA[ch])
        elif 0xAC00 <= cp <= 0xD7A3:
            out.append(_hangul(cp))
        else:
            if thai_pre and not ("\u0e00" <= ch <= "\u0e7f"):
                out.append(thai_pre)
                thai_pre = ""
            if ch.isalpha() and not _is_latin(ch):
                unmapped += 1
            out.append(ch)
        i += 1
    if pending_a and (pending_block not in _SCHWA_DELETION or len(out) < 2 or not out[-2].isalpha()):
        out.append("a")
    out.append(thai_pre)
    return "".join(out), unmapped


def _is_latin(ch: str) -> bool:
    return ch.isascii() or "LATIN" in unicodedata.name(ch, "")


def _unidecode() -> Any:
    try:
        from unidecode import unidecode
    except ImportError:
        return None
    return unidecode


def romanize(text: str, backend: str = "auto") -> tuple[str, int, str]:
    """(romanised text, letters left unmapped, backend used). auto = tables, then unidecode for the rest."""
    if backend == "unidecode":
        fn = _unidecode()
        if fn is None:
            from ..errors import UsageError

            raise UsageError("transliterate backend=unidecode needs the unidecode package: "
                             "pip install 'babelsafe[translit]' (or backend=table).")
        return fn(text), 0, "unidecode"
    out, unmapped = romanize_table(text)
    if backend == "auto" and unmapped:
        fn = _unidecode()
        if fn is not None:
            fixed = "".join(fn(c) if c.isalpha() and not _is_latin(c) else c for c in out)
            return fixed, 0, "table+unidecode"
    return out, unmapped, "table"


class Transliterate:
    """Romanise non-Latin scripts (Cyrillic, Greek, Indic, Thai, Arabic, Hangul tables; CJK via optional unidecode).

    Options: `backend` = auto (built-in tables, then `unidecode` for letters they do not cover, when
    installed) | table | unidecode. Letters no backend could map are kept and counted in the step params
    ("unmapped"); a prompt with more than 10% of its non-Latin letters unmapped, or none to romanise (already
    Latin script), is skipped with the reason stored rather than sent as if romanised. Romanisation is approximate (no tone marks, no Korean sound-change rules, word-final
    inherent vowels dropped in Indic scripts); it models users typing their language in Latin letters.
    """

    name = "transliterate"
    decodes = False  # no decode(): answers are judged as written
    source = ("Romanised prompts as a low-resource attack, cf. Yong et al., Low-Resource Languages Jailbreak "
              "GPT-4 (arXiv:2310.02446) and transliteration studies of multilingual safety")
    languages = ["ru", "uk", "bg", "sr", "mk", "be", "kk", "el", "hi", "mr", "ne", "bn", "pa", "gu", "ta",
                 "te", "kn", "ml", "th", "ar", "fa", "ur", "ko", "zh (unidecode)", "ja (unidecode)"]
    license = "Apache-2.0 (babelsafe's own tables; the optional unidecode fallback is GPL-2.0+)"

    def __init__(self, backend: str = "auto", ctx: Any = None):
        self.backend = check_choice("backend", backend, ("auto", "table", "unidecode"))

    async def apply(self, probe: Probe, ctx: Any = None) -> list[Probe]:
        source = probe.prompt_text
        text, unmapped, used = romanize(source, self.backend)
        params = {"backend": used, "unmapped": unmapped}
        foreign = sum(1 for ch in source if ch.isalpha() and not _is_latin(ch))
        if foreign == 0:  # nothing to romanise: the probe would be the plain prompt under another name
            return [skipped(probe, self.name, params, "the prompt is already in Latin script")]
        if unmapped > (1 - MIN_ROMANISED) * foreign:
            return [skipped(probe, self.name, params, (
                f"{unmapped} of {foreign} non-Latin letters have no romanisation with backend={used} "
                "(for Chinese and Japanese install unidecode: pip install 'babelsafe[translit]')"))]
        if unmapped:
            log.info("transliterate: %d letters without a romanisation kept as written (%s/%s)", unmapped,
                     probe.sample.dataset, probe.sample.id)
        return [derive(probe, self.name, params, text, meta={"script": "Latin (romanised)"})]
