"""Screening a non-streamed answer: each choice's text is checked; a blocked or wrong-language refusal is
replaced by the refusal in the user's language (blocked: finish_reason "content_filter")."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..lang import refusal_text
from ..screen import BLOCK, LOCALIZE, Decision, Screen


@dataclass
class Screened:
    """What the output check did to an answer."""

    action: str = "pass"  # pass | localized | blocked_output
    decisions: list[Decision] = field(default_factory=list)
    changed: bool = False
    answer_chars: int = 0


def parse_answer(raw: bytes) -> dict[str, Any] | None:
    """The upstream's chat.completion body, or None when it is not one (no JSON object with choices)."""
    import json

    try:
        data = json.loads(raw)
        data["choices"]
    except (ValueError, KeyError, TypeError):
        return None
    return data if isinstance(data, dict) else None


async def screen_answer(screen: Screen, messages: list[Any], data: dict[str, Any], lang: str | None) -> Screened:
    """Check every choice's text in `data` (changed in place when a choice is replaced)."""
    res = Screened()
    choices = data.get("choices")
    for ch in choices if isinstance(choices, list) else []:
        msg = ch.get("message") if isinstance(ch, dict) else None
        text = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(text, str):
            continue
        res.answer_chars += len(text)
        d = await screen.check_output(messages, text, lang)
        res.decisions.append(d)
        if d.action in (BLOCK, LOCALIZE):
            msg["content"] = refusal_text(d.language)
            res.changed = True
            if d.action == BLOCK:
                ch["finish_reason"] = "content_filter"
                res.action = "blocked_output"
            elif res.action == "pass":
                res.action = "localized"
    return res
