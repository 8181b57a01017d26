"""OpenAI-shaped bodies the proxy writes itself: errors, completions, stream chunks."""
from __future__ import annotations

import json
import time
from typing import Any

DONE = b"data: [DONE]\n\n"


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_event(message: str, code: str) -> bytes:
    """An error inside an SSE stream, the way OpenAI sends one."""
    return b"data: " + json.dumps(error_body(message, "upstream_error", code=code)).encode() + b"\n\n"


def completion(model: str, text: str, finish: str, rid: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-guard-{rid}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                         "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def chunk(model: str, rid: str, delta: dict[str, Any], finish: str | None, index: int = 0) -> bytes:
    body = {"id": f"chatcmpl-guard-{rid}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


def refusal_chunks(model: str, rid: str, text: str) -> list[bytes]:
    """A whole streamed answer that is a refusal: the text, a content_filter finish, [DONE]."""
    return [chunk(model, rid, {"role": "assistant", "content": text}, None), chunk(model, rid, {}, "content_filter"),
            DONE]


def completion_as_chunks(data: dict[str, Any], rid: str) -> list[bytes]:
    """A (screened) chat.completion body as the SSE chunks of a stream: per choice its message as one
    delta (content and tool calls), then its finish_reason; then [DONE]."""
    model = str(data.get("model") or "unknown")
    out: list[bytes] = []
    choices = [c for c in data.get("choices") or [] if isinstance(c, dict)]
    for n, ch in enumerate(choices):
        idx = ch.get("index", n)
        msg = ch.get("message") if isinstance(ch.get("message"), dict) else {}
        delta: dict[str, Any] = {"role": msg.get("role") or "assistant", "content": msg.get("content") or ""}
        if msg.get("tool_calls"):
            delta["tool_calls"] = [{**tc, "index": i} for i, tc in enumerate(msg["tool_calls"])]
        out.append(chunk(model, rid, delta, None, idx))
    for n, ch in enumerate(choices):
        out.append(chunk(model, rid, {}, ch.get("finish_reason") or "stop", ch.get("index", n)))
    out.append(DONE)
    return out
