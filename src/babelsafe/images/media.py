"""One image from a file or bytes, checked before anything is sent or stored.

Checks (each failure is an `ImageError` saying what is wrong and what to do): the file exists, it is
at most `MAX_BYTES`, Pillow can decode all of it (corrupt and truncated files fail), its format is one
providers accept (PNG, JPEG, WEBP, GIF, BMP), and it has at most `MAX_PIXELS` pixels (a decompression
bomb never reaches the decoder). Bytes are read and hashed lazily: loading a large dataset and taking
a few samples reads only those images.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif",
           "BMP": "image/bmp"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
              "image/bmp": "bmp"}
MAX_BYTES = 20 * 2**20  # OpenAI's per-image limit
MAX_PIXELS = 40_000_000  # e.g. 8000 x 5000; Pillow's own bomb limit is ~89M


class ImageError(UsageError):
    """An image that cannot be used (missing, corrupt, too large, unsupported format)."""


def pillow() -> Any:
    """The PIL.Image module, or a UsageError saying how to install it."""
    try:
        from PIL import Image as PILImage
    except ImportError as e:
        raise UsageError("Images need Pillow, which is not installed. Install it with: "
                         "pip install 'babelsafe[images]'") from e
    return PILImage


@dataclass(frozen=True, slots=True)
class ImageInfo:
    mime: str
    width: int
    height: int
    size: int  # bytes


class Image:
    """An image from `path` or `data` (exactly one); `name` is what error messages call it."""

    __slots__ = ("path", "_data", "_sha", "_info", "name")

    def __init__(self, data: bytes | None = None, path: str | Path | None = None, name: str | None = None):
        if (data is None) == (path is None):
            raise ValueError("Image needs exactly one of data or path")
        self.path = Path(path) if path is not None else None
        self._data = data
        self._sha: str | None = None
        self._info: ImageInfo | None = None
        self.name = name or (str(self.path) if self.path else "image bytes")

    @classmethod
    def coerce(cls, obj: Any, base: Path | None = None, name: str | None = None) -> "Image":
        """An Image from a path (relative to `base`), bytes, an Image, or a Hugging Face image dict
        ({"bytes": ..., "path": ...})."""
        if isinstance(obj, Image):
            return obj
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return cls(data=bytes(obj), name=name)
        if isinstance(obj, dict):
            if obj.get("bytes"):
                return cls(data=bytes(obj["bytes"]), name=name or obj.get("path"))
            if obj.get("path"):
                return cls.coerce(obj["path"], base, name)
        if isinstance(obj, (str, Path)) and str(obj).strip():
            p = Path(str(obj)).expanduser()
            if base is not None and not p.is_absolute():
                p = base / p
            return cls(path=p, name=name)
        raise ImageError(f"{name or 'image'}: expected a file path or image bytes, got {type(obj).__name__}.")

    def read(self) -> bytes:
        """The image's bytes (size-checked before reading)."""
        if self._data is not None:
            if len(self._data) > MAX_BYTES:
                raise ImageError(self._too_big(len(self._data)))
            return self._data
        assert self.path is not None
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            raise ImageError(f"Image not found: {self.path}. Check the dataset's image folder "
                             "(the `path` option) or the file name.") from None
        if self.path.is_dir():
            raise ImageError(f"{self.path} is a directory, not an image file.")
        if size > MAX_BYTES:
            raise ImageError(self._too_big(size))
        return self.path.read_bytes()

    def _too_big(self, size: int) -> str:
        return (f"{self.name} is {size / 2**20:.1f} MiB, over the {MAX_BYTES // 2**20} MiB limit for one "
                "image. Downscale it (e.g. to 2048 px on the long side) or save it as JPEG.")

    @property
    def sha256(self) -> str:
        if self._sha is None:
            self._sha = hashlib.sha256(self.read()).hexdigest()
        return self._sha

    def check(self) -> ImageInfo:
        """Decode the whole image once; its mime type and size, or an ImageError."""
        if self._info is None:
            self._info = check_bytes(self.read(), self.name)
        return self._info


def check_bytes(data: bytes, name: str = "image") -> ImageInfo:
    """Validate image bytes with Pillow: format, pixel count, a full decode."""
    pil = pillow()
    if not data:
        raise ImageError(f"{name} is empty (0 bytes).")
    try:
        with pil.open(io.BytesIO(data)) as im:
            fmt, (w, h) = im.format, im.size
            if fmt not in FORMATS:
                raise ImageError(f"{name} is a {fmt} image; accepted formats are PNG, JPEG, WEBP, GIF and "
                                 "BMP. Convert it (e.g. save it as PNG).")
            if w * h > MAX_PIXELS:
                raise ImageError(f"{name} has {w}x{h} pixels, over the limit of {MAX_PIXELS:,}. Downscale it.")
            im.load()  # a full decode: truncated and corrupt data fail here, not at the provider
    except ImageError:
        raise
    except pil.DecompressionBombError as e:
        raise ImageError(f"{name} is too large to decode safely ({e}). Downscale it.") from e
    except Exception as e:  # UnidentifiedImageError, OSError (truncated), SyntaxError (bad header)...
        raise ImageError(f"{name} cannot be read as an image ({type(e).__name__}: {e}). It is corrupt or "
                         "not an image; re-export it as PNG or JPEG.") from e
    return ImageInfo(FORMATS[fmt], int(w), int(h), len(data))
