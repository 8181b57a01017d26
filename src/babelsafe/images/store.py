"""Content-addressed image storage: each image once per run, at `<run>/images/<sha256>.<ext>`.

Probes keep `image_ref` parts (hash + mime); `resolve` builds the OpenAI-style `image_url` data URLs
only for the request being sent, so neither the store's `calls` table nor the cache keys ever hold
image bytes. Without a root directory (outside a run) images are kept in memory.
"""
from __future__ import annotations

import base64
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from .media import EXTENSIONS, Image, ImageError, check_bytes, pillow
from .parts import IMAGE_REF

log = logging.getLogger(__name__)


class ImageStore:
    """Images by sha256 under `root` (created on first write), or in memory when root is None."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else None
        self._mem: dict[str, bytes] = {}
        self._paths: dict[str, Path] = {}

    def put(self, image: Image | bytes | str | Path) -> dict[str, Any]:
        """Check and store an image (once per content); its `image_ref` content part."""
        img = Image.coerce(image)
        info = img.check()
        sha = img.sha256
        if sha not in self._paths and sha not in self._mem:
            data = img.read()
            if self.root is None:
                self._mem[sha] = data
            else:
                path = self.root / f"{sha}.{EXTENSIONS[info.mime]}"
                if not path.exists():
                    self.root.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                    os.replace(tmp, path)  # atomic: a reader never sees half a file
                self._paths[sha] = path
        return {"type": IMAGE_REF, "sha256": sha, "mime": info.mime, "width": info.width,
                "height": info.height}

    def path(self, sha: str) -> Path | None:
        """The stored file of an image (None in memory, or when absent)."""
        if sha in self._paths:
            return self._paths[sha]
        if self.root is not None and self.root.is_dir():
            for p in self.root.glob(f"{sha}.*"):
                self._paths[sha] = p
                return p
        return None

    def read(self, sha: str) -> bytes:
        if sha in self._mem:
            return self._mem[sha]
        p = self.path(sha)
        if p is None:
            where = self.root or "memory"
            raise ImageError(f"Image {sha[:12]}... is not in the image store ({where}). The run directory's "
                             "images/ folder may have been moved or pruned; rerun to store it again.")
        return p.read_bytes()

    def data_url(self, ref: dict[str, Any]) -> str:
        data = self.read(ref["sha256"])
        return f"data:{ref.get('mime') or 'image/png'};base64,{base64.b64encode(data).decode('ascii')}"

    def resolve(self, messages: list[dict[str, Any]], detail: str | None = None) -> list[dict[str, Any]]:
        """The messages with every `image_ref` part replaced by an OpenAI `image_url` data-URL part.
        Messages without images are returned as they are (no copy)."""
        for m in messages:  # a loop, not any(genexpr): this runs for every model call
            if isinstance(m.get("content"), list):
                break
        else:
            return messages
        out = []
        for m in messages:
            c = m.get("content")
            if not isinstance(c, list):
                out.append(m)
                continue
            parts = []
            for p in c:
                if isinstance(p, dict) and p.get("type") == IMAGE_REF:
                    url: dict[str, Any] = {"url": self.data_url(p)}
                    if detail:
                        url["detail"] = detail
                    parts.append({"type": "image_url", "image_url": url})
                else:
                    parts.append(p)
            out.append({**m, "content": parts})
        return out

    def thumbnail_data_uri(self, sha: str, max_side: int = 160, max_bytes: int = 24_000) -> str | None:
        """A small JPEG/PNG data URI of a stored image for reports (None when it cannot be made)."""
        try:
            return thumbnail_data_uri(self.read(sha), max_side, max_bytes)
        except Exception as e:  # a report must render even when an image is gone
            log.warning("no thumbnail for image %s: %s", sha[:12], e)
            return None


def thumbnail_data_uri(data: bytes, max_side: int = 160, max_bytes: int = 24_000) -> str:
    """Downscale to at most `max_side` px and encode under `max_bytes` (JPEG quality steps down)."""
    check_bytes(data, "thumbnail source")
    pil = pillow()
    with pil.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        for quality in (80, 65, 50, 35, 20):
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=quality, optimize=True)
            if buf.tell() <= max_bytes:
                break
            if quality == 20:  # still too big: halve the size once more
                im.thumbnail((max_side // 2, max_side // 2))
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=50)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
