"""Images as first-class probe content: validated media, a content-addressed store in the run
directory, OpenAI-style content parts, and script-aware text rendering (typographic attacks).

- `media.Image`: an image from a file path or bytes, checked with Pillow (format, size, pixels).
- `store.ImageStore`: `runs/X/images/<sha256>.<ext>`, each image stored once; probes keep references
  (`{"type": "image_ref", "sha256": ..., "mime": ...}` content parts) and the call path turns them into
  `image_url` data URLs just before a target is called, so the store and the cache keys stay small.
- `parts`: helpers to read text and images out of `str | list[part]` message contents.
- `fonts` / `render`: find a font that covers a text's scripts (Noto) and render it without tofu.

Needs Pillow (`pip install 'babelsafe[images]'`); text-only runs never import it.
"""
from __future__ import annotations

from .parts import IMAGE_REF, has_images, image_refs, text_of

__all__ = ["IMAGE_REF", "has_images", "image_refs", "text_of"]
