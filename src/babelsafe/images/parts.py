"""Message contents with images: `str` or a list of OpenAI-style content parts.

Inside babelsafe an image is an `image_ref` part naming a stored image by hash; only the call path
(`ImageStore.resolve`) turns it into the `image_url` data URL that providers expect.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

IMAGE_REF = "image_ref"  # {"type": "image_ref", "sha256": "<hex>", "mime": "image/png"}
IMAGE_TOKENS = 800  # rough prompt-token cost of one image (rate limits and plans only)


def text_of(content: Any) -> str:
    """The text of a message content: the string itself, or its text parts joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content
                         if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def iter_image_parts(messages: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every image part (`image_ref` or `image_url`) in the messages, in order."""
    for m in messages:
        c = m.get("content")
        if isinstance(c, list):
            for p in c:
                if isinstance(p, dict) and p.get("type") in (IMAGE_REF, "image_url"):
                    yield p


def image_refs(messages: Iterable[dict[str, Any]]) -> list[str]:
    """Hashes of the stored images the messages refer to (in order, without repeats)."""
    out = [p["sha256"] for p in iter_image_parts(messages) if p.get("type") == IMAGE_REF]
    return list(dict.fromkeys(out))


def has_images(messages: Iterable[dict[str, Any]]) -> bool:
    return next(iter_image_parts(messages), None) is not None


def user_content(text: str, refs: list[dict[str, Any]], images_first: bool = True) -> Any:
    """A user message content: the text alone, or image parts and a text part."""
    if not refs:
        return text
    parts: list[dict[str, Any]] = [dict(r) for r in refs]
    if text:
        parts = parts + [{"type": "text", "text": text}] if images_first else \
            [{"type": "text", "text": text}] + parts
    return parts


def replace_user_content(messages: list[dict[str, Any]], content: Any) -> list[dict[str, Any]]:
    """A copy of the messages with the last user message's content replaced (appended if none)."""
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m.get("role") == "user":
            m["content"] = content
            return out
    out.append({"role": "user", "content": content})
    return out


def estimate_content_tokens(content: Any, estimate_text: Any) -> int:
    """Token estimate of one content with `estimate_text(str) -> int` for the text and a flat cost per image."""
    if isinstance(content, list):
        n_img = sum(1 for p in content if isinstance(p, dict) and p.get("type") in (IMAGE_REF, "image_url"))
        return estimate_text(text_of(content)) + IMAGE_TOKENS * n_img
    return estimate_text(content or "")


def modality(messages: Iterable[dict[str, Any]]) -> str:
    """'text' or 'image+text' (what a probe asks the model to read)."""
    return "image+text" if has_images(messages) else "text"
