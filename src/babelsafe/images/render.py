"""Text drawn as an image in any script (typographic / FigStep-style probes).

Lines are wrapped to the image width, each line is cut into font runs (see fonts.FontBook) and runs
are shaped by Pillow's raqm layout (HarfBuzz + FriBiDi): Arabic letters join, Indic clusters reorder,
right-to-left lines are laid out from the right edge. Without raqm, scripts that need shaping are
refused with a clear error rather than drawn wrongly.
"""
from __future__ import annotations

import io
import unicodedata
from functools import lru_cache
from typing import Any

from .fonts import Face, FontBook, FontError, is_rtl, needs_shaping, script_of
from .media import pillow

WIDTH = 760  # FigStep's canvas
MIN_FONT = 14


@lru_cache(maxsize=1)
def has_raqm() -> bool:
    try:
        from PIL import features

        return bool(features.check("raqm"))
    except Exception:
        return False


@lru_cache(maxsize=64)
def _font(face: Face, size: int, raqm: bool) -> Any:
    from PIL import ImageFont

    engine = ImageFont.Layout.RAQM if raqm else ImageFont.Layout.BASIC
    return ImageFont.truetype(face.path, size, index=face.index, layout_engine=engine)


def _run_direction(text: str) -> str:
    return "rtl" if is_rtl(text) else "ltr"


def _tokens(line: str) -> list[str]:
    """Breakable pieces: words with their trailing space, and single clusters in scripts written
    without spaces (CJK, Thai...) so long runs still wrap."""
    out: list[str] = []
    word = ""
    for ch in line:
        if ch == " ":
            out.append(word + " ")
            word = ""
        elif script_of(ch) in ("CJK", "THAI", "LAO", "KHMER", "MYANMAR") and not unicodedata.combining(ch) \
                and unicodedata.category(ch)[0] != "M":
            if word:
                out.append(word)
            word = ch
        else:
            word += ch
    if word:
        out.append(word)
    return out


class Renderer:
    """Draws text with the faces a FontBook picks; one instance per (fonts, language)."""

    def __init__(self, book: FontBook, size: int, language: str | None = None):
        self.book = book
        self.size = size
        self.language = language
        self.raqm = has_raqm()

    def _kw(self, text: str) -> dict[str, Any]:
        if not self.raqm:
            return {}
        kw: dict[str, Any] = {"direction": _run_direction(text)}
        if self.language:
            kw["language"] = self.language
        return kw

    def width(self, text: str) -> float:
        return sum(_font(f, self.size, self.raqm).getlength(t, **self._kw(t)) for f, t in self.book.runs(text))

    def wrap(self, text: str, max_width: int) -> list[str]:
        lines: list[str] = []
        for para in text.split("\n"):
            cur = ""
            for tok in _tokens(para):
                if cur and self.width((cur + tok).rstrip()) > max_width:
                    lines.append(cur.rstrip())
                    cur = tok
                else:
                    cur += tok
            lines.append(cur.rstrip())
        return lines

    def draw_line(self, draw: Any, line: str, x0: int, x1: int, baseline: int, rtl: bool, fill: str) -> None:
        runs = self.book.runs(line)
        if rtl:  # run-level bidi: the first logical run sits at the right edge
            x = float(x1)
            for face, t in runs:
                font = _font(face, self.size, self.raqm)
                x -= font.getlength(t, **self._kw(t))
                draw.text((x, baseline), t, font=font, fill=fill, anchor="ls", **self._kw(t))
        else:
            x = float(x0)
            for face, t in runs:
                font = _font(face, self.size, self.raqm)
                draw.text((x, baseline), t, font=font, fill=fill, anchor="ls", **self._kw(t))
                x += font.getlength(t, **self._kw(t))

    def line_height(self, lines: list[str]) -> int:
        faces = {f for line in lines for f, _ in self.book.runs(line)} or set()
        asc = desc = 0
        for f in faces:
            a, d = _font(f, self.size, self.raqm).getmetrics()
            asc, desc = max(asc, a), max(desc, d)
        return int((asc + desc) * 1.15) or int(self.size * 1.5)


def render_text(text: str, *, language: str | None = None, width: int = WIDTH, height: int | None = None,
                font_size: int = 48, padding: int = 32, font: str | None = None,
                font_dirs: list[str] | None = None, background: str = "white", color: str = "black") -> bytes:
    """PNG bytes of `text` wrapped into a `width`-px image (square by default), shrinking the font
    until it fits. FontError when a character has no glyph or the script needs raqm and it is absent."""
    pil = pillow()
    from PIL import ImageDraw

    text = unicodedata.normalize("NFC", text.strip())
    if not text:
        raise FontError("Nothing to render: the text is empty.")
    shaping = needs_shaping(text)
    if shaping and not has_raqm():
        raise FontError(f"Drawing {', '.join(sorted(shaping)).title()} text needs Pillow's raqm layout "
                        "(HarfBuzz shaping), which is not available. Install libraqm (Debian/Ubuntu: "
                        "apt-get install libraqm0; macOS: brew install libraqm) and restart.")
    book = FontBook(font, font_dirs, language)
    book.runs(text)  # every character has a glyph, or a FontError naming the ones that do not
    height = height or width
    size = font_size
    while True:
        r = Renderer(book, size, language)
        lines = r.wrap(text, width - 2 * padding)
        lh = r.line_height(lines)
        if lh * len(lines) <= height - 2 * padding or size <= MIN_FONT:
            break
        size = max(MIN_FONT, int(size * 0.85))
    rtl = is_rtl(text)
    img = pil.new("RGB", (width, max(height, lh * len(lines) + 2 * padding)), background)
    draw = ImageDraw.Draw(img)
    asc = int(lh / 1.15 * 0.8)
    for i, line in enumerate(lines):
        r.draw_line(draw, line, padding, width - padding, padding + i * lh + asc, rtl, color)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()
