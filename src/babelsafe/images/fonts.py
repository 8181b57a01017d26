"""Fonts that cover a text, script by script, so rendered text never shows glyph boxes (tofu).

Noto fonts split the world's scripts over many files (the Arabic or Bengali font has no Latin letters
or digits), so a text is cut into runs, each drawn with a font whose character map (read with
fontTools) holds every character of the run. Fonts are searched in `font`, then `font_dirs`, the
`BABELSAFE_FONT_DIRS` variable (os.pathsep-separated) and the usual system folders; Debian's
`fonts-noto-core` and `fonts-noto-cjk` packages cover Latin, Arabic, Bengali, Devanagari, Thai, CJK,
Hangul, Ethiopic and most other scripts.
"""
from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import UsageError

SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
                    "/Library/Fonts", "/System/Library/Fonts", "C:/Windows/Fonts")
INSTALL_HINT = ("Install fonts that cover it (Debian/Ubuntu: apt-get install fonts-noto-core "
                "fonts-noto-cjk), point BABELSAFE_FONT_DIRS at a folder of .ttf/.otf files, or pass "
                "--option font=PATH.ttf.")
# Font file stems tried first per script (first word of the Unicode character name).
PREFERRED: dict[str, tuple[str, ...]] = {
    "LATIN": ("NotoSans-Regular", "DejaVuSans"),
    "GREEK": ("NotoSans-Regular", "DejaVuSans"),
    "CYRILLIC": ("NotoSans-Regular", "DejaVuSans"),
    "ARABIC": ("NotoSansArabic-Regular", "NotoNaskhArabic-Regular"),
    "THAI": ("NotoSansThai-Regular", "NotoLoopedThai-Regular"),
    "CJK": ("NotoSansCJK-Regular",), "HIRAGANA": ("NotoSansCJK-Regular",),
    "KATAKANA": ("NotoSansCJK-Regular",), "HANGUL": ("NotoSansCJK-Regular",),
    "BOPOMOFO": ("NotoSansCJK-Regular",), "IDEOGRAPHIC": ("NotoSansCJK-Regular",),
}
# Which face of the CJK collection suits a language (glyph shapes differ: 0 JP, 1 KR, 2 SC, 3 TC).
CJK_INDEX = {"ja": 0, "ko": 1, "zh": 2, "zh-cn": 2, "zh-tw": 3, "zh-hk": 4}
RTL_SCRIPTS = {"ARABIC", "HEBREW", "SYRIAC", "THAANA", "NKO", "SAMARITAN", "MANDAIC", "ADLAM"}
# Scripts drawn correctly without a shaping engine (one glyph per character, left to right).
SIMPLE_SCRIPTS = {"LATIN", "GREEK", "CYRILLIC", "CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO",
                  "IDEOGRAPHIC", "ETHIOPIC", "ARMENIAN", "GEORGIAN", "CHEROKEE", "FULLWIDTH",
                  "HALFWIDTH"}


class FontError(UsageError):
    """No font covers some characters, or the text needs shaping that Pillow cannot do here."""


def script_of(ch: str) -> str | None:
    """A character's script (first word of its Unicode name, e.g. 'ARABIC'); None for characters
    shared by all scripts (spaces, ASCII digits, punctuation, symbols) and for combining marks, which
    stay in the run of the character before them."""
    cat = unicodedata.category(ch)
    if not (cat[0] == "L" or (cat == "Nd" and ord(ch) > 0x7F)):
        return None
    name = unicodedata.name(ch, "")
    if not name:
        return None
    word = name.split(" ", 1)[0]
    if word in ("CJK", "KANGXI", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH") or "KATAKANA" in word \
            or "HIRAGANA" in word:
        return "CJK"
    if word.startswith("ARABIC") or word == "EXTENDED":
        return "ARABIC"
    if word in ("MODIFIER", "SUPERSCRIPT", "SUBSCRIPT"):
        return None
    return word


def drawable(ch: str) -> bool:
    """True for characters that need a glyph (not spaces, controls or invisible format marks)."""
    cat = unicodedata.category(ch)
    return not (cat.startswith("Z") or cat in ("Cc", "Cf"))


@dataclass(frozen=True)
class Face:
    path: str
    index: int = 0

    @property
    def name(self) -> str:
        return Path(self.path).name + (f"#{self.index}" if self.index else "")


@lru_cache(maxsize=512)
def cmap(face: Face) -> frozenset[int]:
    """The code points a font face maps to glyphs (fontTools, read once per face)."""
    try:
        from fontTools.ttLib import TTFont
    except ImportError as e:
        raise UsageError("Rendering text needs fontTools: pip install 'babelsafe[images]'") from e
    try:
        with TTFont(face.path, fontNumber=face.index, lazy=True) as f:
            return frozenset((f.getBestCmap() or {}).keys())
    except Exception as e:
        raise FontError(f"Cannot read the font {face.path} ({type(e).__name__}: {e}). Give a .ttf, .otf "
                        "or .ttc file.") from e


def font_dirs(extra: list[str] | tuple[str, ...] | None = None) -> tuple[str, ...]:
    env = [d for d in os.environ.get("BABELSAFE_FONT_DIRS", "").split(os.pathsep) if d]
    dirs = [*(extra or ()), *env, *SYSTEM_FONT_DIRS]
    return tuple(str(Path(d).expanduser()) for d in dirs)


@lru_cache(maxsize=8)
def _index(dirs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(stem, path) of every font file under the folders, in folder order (bounded walk)."""
    out: list[tuple[str, str]] = []
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for root, _, files in os.walk(d):
            for fn in sorted(files):
                if fn.lower().endswith((".ttf", ".otf", ".ttc")):
                    out.append((fn.rsplit(".", 1)[0], os.path.join(root, fn)))
            if len(out) > 20000:  # a pathological font folder must not stall a run
                break
    return tuple(out)


class FontBook:
    """Chooses faces for the characters of a text: the user's font first, then per-script
    preferences, then any installed font whose character map covers the character."""

    def __init__(self, font: str | None = None, font_dirs_: list[str] | None = None,
                 language: str | None = None):
        self.language = (language or "").lower()
        self.user: Face | None = None
        if font:
            p = Path(font).expanduser()
            if not p.is_file():
                raise FontError(f"Font file not found: {font}. Give the path of a .ttf, .otf or .ttc file.")
            self.user = Face(str(p), 0)
            cmap(self.user)  # fail now on an unreadable file
        self.files = _index(font_dirs(font_dirs_))
        self._by_stem = {}
        for stem, path in self.files:
            self._by_stem.setdefault(stem, path)
        self._memo: dict[str, Face | None] = {}

    def _preferred(self, script: str | None) -> list[Face]:
        stems = list(PREFERRED.get(script or "LATIN", ()))
        if script and script not in PREFERRED:
            title = script.title().replace("_", "")
            stems += [f"NotoSans{title}-Regular", f"NotoSerif{title}-Regular"]
        stems += ["NotoSans-Regular", "DejaVuSans"]
        faces = []
        for stem in stems:
            path = self._by_stem.get(stem)
            if path:
                faces.append(Face(path, self._preferred_index(stem, path)))
        return faces

    def _preferred_index(self, stem: str, path: str) -> int:
        if path.endswith(".ttc") and "CJK" in stem:
            return CJK_INDEX.get(self.language, CJK_INDEX.get(self.language.split("-")[0], 2))
        return 0

    def face_for(self, ch: str) -> Face | None:
        """A face with a glyph for `ch` (None when no installed font has one)."""
        if ch in self._memo:
            return self._memo[ch]
        cp, script = ord(ch), script_of(ch)
        found = None
        candidates = ([self.user] if self.user else []) + self._preferred(script)
        for face in candidates:
            if cp in cmap(face):
                found = face
                break
        if found is None:  # faces this text already uses (e.g. the CJK face for a fullwidth '？')
            for face in dict.fromkeys(f for f in self._memo.values() if f is not None):
                if cp in cmap(face):
                    found = face
                    break
        if found is None:  # scan every installed font (slow path, once per character)
            for stem, path in self.files:
                face = Face(path, self._preferred_index(stem, path))
                try:
                    if cp in cmap(face):
                        found = face
                        break
                except FontError:
                    continue
        self._memo[ch] = found
        return found

    def runs(self, text: str) -> list[tuple[Face, str]]:
        """The text cut into (face, substring) runs in logical order; shared characters (spaces,
        digits, punctuation, combining marks) stay in the current run when its face covers them."""
        missing = sorted({c for c in text if drawable(c) and self.face_for(c) is None})
        if missing:
            shown = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in missing[:8])
            raise FontError(f"No installed font has glyphs for {len(missing)} character(s): {shown}. "
                            f"{INSTALL_HINT}")
        out: list[tuple[Face, list[str]]] = []
        for c in text:
            cur = out[-1][0] if out else None
            shared = script_of(c) is None
            if cur is not None and (not drawable(c) or (shared and ord(c) in cmap(cur))):
                out[-1][1].append(c)
                continue
            face = self.face_for(c) if drawable(c) else (cur or self.face_for("a"))
            if face is None:  # a space before any run and no Latin font: any face draws a gap
                faces = self._preferred(None)
                if not faces:
                    raise FontError(f"No fonts found at all. {INSTALL_HINT}")
                face = faces[0]
            if cur == face:
                out[-1][1].append(c)
            else:
                out.append((face, [c]))
        return [(f, "".join(cs)) for f, cs in out]


def is_rtl(text: str) -> bool:
    """True when most strong (script) characters belong to right-to-left scripts."""
    rtl = ltr = 0
    for c in text:
        s = script_of(c)
        if s is None:
            continue
        if s in RTL_SCRIPTS:
            rtl += 1
        else:
            ltr += 1
    return rtl > ltr


def needs_shaping(text: str) -> set[str]:
    """Scripts in the text that need a shaping engine (raqm) to be drawn correctly."""
    return {s for s in map(script_of, text) if s and s not in SIMPLE_SCRIPTS}
