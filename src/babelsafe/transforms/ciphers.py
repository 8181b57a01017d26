"""Ciphers and encodings (SORRY-Bench's encoding mutations): the prompt is encoded, wrapped in an
instruction to reply in the same encoding, and `decode()` turns the answer back into plain text before
judging. Decoding is tolerant: text that is not in the encoding is returned unchanged."""
from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any, Callable

from ..errors import UsageError
from ..types import Probe
from ..text import SCRIPT_NAME, dominant_script, script_profile
from .base import data_yaml, derive, letter_coverage, skipped

# A letter cipher that leaves more than this share of a prompt's letters readable (or more than a few letters
# of a non-Latin script) is not applied: the probe is skipped with the reason (e.g. Bengali or Chinese under
# "caesar", also inside an English template; chain transliterate>caesar).
MIN_COVERAGE = 0.9
ALL = "every character"  # byte encodings (ascii, hex, base64) encode any script
MAX_FOREIGN = 3  # letters of a non-Latin script tolerated (a name); a word more is a readable payload

_SORRY = ("SORRY-Bench: Xie et al., ICLR 2025 (arXiv:2406.14598), encoding mutations; setup after "
          "CipherChat: Yuan et al., ICLR 2024 (arXiv:2308.06463)")

# English letter frequencies (%), used to tell plain text from Caesar/Atbash text.
_FREQ = dict(zip("abcdefghijklmnopqrstuvwxyz",
                 (8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.77, 4.0, 2.4, 6.7, 7.5, 1.9, 0.095,
                  6.0, 6.3, 9.1, 2.8, 0.98, 2.4, 0.15, 2.0, 0.074)))
_LOGF = {c: math.log(f / 100) for c, f in _FREQ.items()}


def plain_score(text: str) -> float:
    """Mean log-frequency of the ASCII letters in text (higher = more like natural Latin-script text)."""
    letters = [c for c in text.lower() if "a" <= c <= "z"]
    if not letters:
        return float("-inf")
    return sum(_LOGF[c] for c in letters) / len(letters)


class Cipher:
    """Base class: encode the prompt, wrap it in the cipher instruction, decode answers. A prompt whose
    letters the cipher cannot encode (below MIN_COVERAGE) is skipped with a stored reason."""

    name = "cipher"
    alphabet = ALL
    languages = "any"  # caesar/atbash/morse skip prompts they cannot encode: chain transliterate first
    decodes = True  # decode() turns the answer back into plain text
    source = _SORRY
    license = "Apache-2.0 (babelsafe's own instruction text, no demonstrations)"

    def __init__(self, ctx: Any = None):
        self._ctx = ctx

    def encode(self, text: str) -> str:
        raise NotImplementedError

    def decode_text(self, text: str) -> str:
        """Decode `text`, leaving anything not in the encoding as it is."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    def instruction(self) -> str:
        return data_yaml("prompts/ciphers.yaml")[self.name]

    def wrap(self, encoded: str) -> str:
        return self.instruction().format(encoded=encoded, **self.params())

    def can_encode(self, ch: str) -> bool:
        """Whether the cipher changes this letter (byte encodings: every character)."""
        return True

    async def apply(self, probe: Probe, ctx: Any = None) -> list[Probe]:
        text = probe.prompt_text
        share, n, foreign = (1.0, 0, 0) if self.alphabet == ALL else letter_coverage(text, self.can_encode)
        # a word in another script (a Bengali prompt inside an English template) stays readable even when
        # the share is high: more than a name's worth of such letters is not a cipher attack either
        if share < MIN_COVERAGE or foreign > MAX_FOREIGN:
            script = SCRIPT_NAME.get(dominant_script(text) or "", "non-Latin")
            if foreign:
                prof = {k: v for k, v in script_profile(text).items() if k != "L"}
                script = SCRIPT_NAME.get(max(prof, key=prof.__getitem__), "non-Latin") if prof else script
            return [skipped(probe, self.name, self.params(), (
                f"{self.name} encodes only {self.alphabet}: {n - round(share * n)} of this prompt's {n} letters "
                f"({script} script) would be sent unencoded. Chain transliterate>{self.name} to romanise first.")
            )]
        encoded = self.encode(text)
        params = {**self.params(), "encoded": encoded}
        meta = {"decode": self.name}
        return [derive(probe, self.name, params, self.wrap(encoded), meta=meta)]

    def decode(self, probe: Probe, text: str) -> str:
        return self.decode_text(text or "")


# --- letter substitutions ----------------------------------------------------------------------------

def _shift(text: str, shift: int) -> str:
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            out.append(chr((ord(ch) - 97 + shift) % 26 + 97))
        elif "A" <= ch <= "Z":
            out.append(chr((ord(ch) - 65 + shift) % 26 + 65))
        else:
            out.append(ch)
    return "".join(out)


def _atbash(text: str) -> str:
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            out.append(chr(122 - (ord(ch) - 97)))
        elif "A" <= ch <= "Z":
            out.append(chr(90 - (ord(ch) - 65)))
        else:
            out.append(ch)
    return "".join(out)


_WORD = re.compile(r"[A-Za-z]+")


def _known_words(text: str) -> int:
    """How many of the words are stop words of some shipped lexicon (the, and, de, la, yang ...)."""
    from ..text import stopword_index

    index = stopword_index()
    return sum(1 for w in _WORD.findall(text.lower()) if w in index)


def _pick_plain(original: str, decoded: str) -> str:
    """The decoded text only when it looks more like natural text than the answer as written (a model
    that refuses in plain language keeps its plain answer): more stop words first, letter frequencies
    when those tie (letter frequencies alone turned "The warm warm warm." into "Aol dhyt dhyt dhyt.")."""
    ko, kd = _known_words(original), _known_words(decoded)
    if ko != kd:
        return decoded if kd > ko else original
    return decoded if plain_score(decoded) > plain_score(original) else original


class Caesar(Cipher):
    """Caesar cipher (SORRY-Bench mutation): ASCII letters shifted by `shift` (default 3); answer decoded.

    A prompt with fewer than 90% a-z letters (Bengali, Chinese, Vietnamese ...) is skipped with the
    reason stored (never sent half-encoded): chain `transliterate>caesar` for non-Latin scripts.
    """

    name = "caesar"
    alphabet = "the letters a-z"

    def can_encode(self, ch: str) -> bool:
        return ch.isascii() and ch.isalpha()

    def __init__(self, shift: int = 3, ctx: Any = None):
        super().__init__(ctx)
        try:
            self.shift = int(shift) % 26
        except (TypeError, ValueError):
            raise UsageError(f"caesar: shift must be an integer, e.g. caesar:shift=3, not {shift!r}.") from None
        if self.shift == 0:
            raise UsageError("caesar: shift must not be a multiple of 26 (the text would not change).")

    def params(self) -> dict[str, Any]:
        return {"shift": self.shift}

    def encode(self, text: str) -> str:
        return _shift(text, self.shift)

    def decode_text(self, text: str) -> str:
        return _pick_plain(text, _shift(text, -self.shift))


class Atbash(Cipher):
    """Atbash cipher (SORRY-Bench mutation): a<->z, b<->y, ...; answer decoded.

    A prompt with fewer than 90% a-z letters is skipped with the reason stored: chain
    `transliterate>atbash` for non-Latin scripts.
    """

    name = "atbash"
    alphabet = "the letters a-z"

    def can_encode(self, ch: str) -> bool:
        return ch.isascii() and ch.isalpha()

    def encode(self, text: str) -> str:
        return _atbash(text)

    def decode_text(self, text: str) -> str:
        return _pick_plain(text, _atbash(text))


# --- token encodings (Morse, decimal codes, hex) ---------------------------------------------------------

def _decode_runs(text: str, valid: Callable[[str], bool], decode_run: Callable[[list[tuple[str, str]]], str | None],
                 min_tokens: int) -> str:
    """Replace each maximal run of >= min_tokens whitespace-separated valid tokens by its decoding.

    decode_run gets [(separator_before, token), ...] and returns None to leave the run as written.
    """
    tokens = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]
    out: list[str] = []
    pos = 0
    i = 0
    while i < len(tokens):
        if not valid(tokens[i][2]):
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and valid(tokens[j + 1][2]):
            j += 1
        run = tokens[i:j + 1]
        if len(run) >= min_tokens:
            items = [(text[run[k - 1][1]:run[k][0]] if k else "", run[k][2]) for k in range(len(run))]
            decoded = decode_run(items)
            if decoded is not None:
                out.append(text[pos:run[0][0]])
                out.append(decoded)
                pos = run[-1][1]
        i = j + 1
    out.append(text[pos:])
    return "".join(out)


MORSE = {
    "a": ".-", "b": "-...", "c": "-.-.", "d": "-..", "e": ".", "f": "..-.", "g": "--.", "h": "....",
    "i": "..", "j": ".---", "k": "-.-", "l": ".-..", "m": "--", "n": "-.", "o": "---", "p": ".--.",
    "q": "--.-", "r": ".-.", "s": "...", "t": "-", "u": "..-", "v": "...-", "w": ".--", "x": "-..-",
    "y": "-.--", "z": "--..", "0": "-----", "1": ".----", "2": "..---", "3": "...--", "4": "....-",
    "5": ".....", "6": "-....", "7": "--...", "8": "---..", "9": "----.", ".": ".-.-.-", ",": "--..--",
    "?": "..--..", "'": ".----.", "!": "-.-.--", "/": "-..-.", "(": "-.--.", ")": "-.--.-", "&": ".-...",
    ":": "---...", ";": "-.-.-.", "=": "-...-", "+": ".-.-.", "-": "-....-", "_": "..--.-", '"': ".-..-.",
    "$": "...-..-", "@": ".--.-.",
}
MORSE_REV = {v: k for k, v in MORSE.items()}
_MORSE_NORM = str.maketrans({"·": ".", "•": ".", "−": "-", "–": "-", "—": "-"})


class Morse(Cipher):
    """Morse code (SORRY-Bench mutation): letters separated by spaces, words by " / "; answer decoded (lower case).

    Characters Morse cannot write (accents) are kept as they are; a prompt with fewer than 90% letters
    Morse can write is skipped with the reason stored: chain `transliterate>morse` for non-Latin scripts.
    """

    name = "morse"
    alphabet = "the letters a-z (and digits, punctuation)"

    def can_encode(self, ch: str) -> bool:
        return ch.lower() in MORSE

    def encode(self, text: str) -> str:
        lines = []
        for line in text.split("\n"):
            toks: list[str] = []
            raw = False  # inside a run of characters Morse cannot write (kept together as one token)
            for ch in line:
                if ch.isspace():
                    if toks and toks[-1] != "/":
                        toks.append("/")
                    raw = False
                elif ch.lower() in MORSE:
                    toks.append(MORSE[ch.lower()])
                    raw = False
                elif raw:
                    toks[-1] += ch
                else:
                    toks.append(ch)
                    raw = True
            while toks and toks[-1] == "/":
                toks.pop()
            lines.append(" ".join(toks))
        return "\n".join(lines)

    @staticmethod
    def _valid(tok: str) -> bool:
        return tok in ("/", "|") or tok.translate(_MORSE_NORM) in MORSE_REV

    def decode_text(self, text: str) -> str:
        def run(items: list[tuple[str, str]]) -> str | None:
            codes = [t for _, t in items if t not in ("/", "|")]
            if len(codes) < 2:
                return None
            out = []
            for sep, tok in items:
                if "\n" in sep:
                    out.append("\n" * sep.count("\n"))
                elif len(sep) >= 3 and out and not out[-1].isspace():
                    out.append(" ")
                if tok in ("/", "|"):
                    if out and not out[-1].isspace():
                        out.append(" ")
                else:
                    out.append(MORSE_REV[tok.translate(_MORSE_NORM)])
            return "".join(out).strip(" ")
        return _decode_runs(text, self._valid, run, 2)


def _ok_codepoint(n: int) -> bool:
    return n in (9, 10, 13) or (32 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF and n != 127)


class Ascii(Cipher):
    """ASCII / decimal character codes (SORRY-Bench mutation): each character as its decimal code point; answer decoded."""

    name = "ascii"

    def encode(self, text: str) -> str:
        return " ".join(str(ord(c)) for c in text)

    @staticmethod
    def _valid(tok: str) -> bool:
        tok = tok.rstrip(",;")
        return tok.isdigit() and len(tok) <= 7 and _ok_codepoint(int(tok))

    def decode_text(self, text: str) -> str:
        def run(items: list[tuple[str, str]]) -> str | None:
            return "".join(chr(int(t.rstrip(",;"))) for _, t in items)
        return _decode_runs(text, self._valid, run, 3)


_HEX_TOKEN = re.compile(r"^(?:0x)?((?:[0-9A-Fa-f]{2})+)[,;]?$")


class Hex(Cipher):
    """Hexadecimal encoding: the prompt's UTF-8 bytes as two-digit hex numbers; answer decoded."""

    name = "hex"
    source = "babelsafe (in the style of SORRY-Bench's encoding mutations, Xie et al., ICLR 2025)"

    def encode(self, text: str) -> str:
        return " ".join(f"{b:02x}" for b in text.encode("utf-8"))

    @staticmethod
    def _valid(tok: str) -> bool:
        return bool(_HEX_TOKEN.match(tok))

    def decode_text(self, text: str) -> str:
        def run(items: list[tuple[str, str]]) -> str | None:
            data = "".join(_HEX_TOKEN.match(t).group(1) for _, t in items)  # type: ignore[union-attr]
            if len(data) < 8:  # fewer than 4 bytes: probably an ordinary word or number
                return None
            try:
                out = bytes.fromhex(data).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return None
            return out if _printable(out) else None
        return _decode_runs(text, self._valid, run, 1)


def _printable(s: str) -> bool:
    return all(c.isprintable() or c in "\n\r\t" for c in s)


_B64_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=])")


class Base64(Cipher):
    """Base64 encoding of the prompt's UTF-8 text; Base64 passages in the answer are decoded."""

    name = "base64"
    source = "babelsafe (in the style of SORRY-Bench's encoding mutations, Xie et al., ICLR 2025)"

    def encode(self, text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    def decode_text(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            s = m.group()
            core = s.rstrip("=")
            if len(core) % 4 == 1:
                return s
            padded = core + "=" * (-len(core) % 4)
            try:
                out = base64.b64decode(padded, validate=True).decode("utf-8")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                return s
            return out if out and _printable(out) else s
        return _B64_RUN.sub(one, text)
