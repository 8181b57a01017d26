"""Relaying a streamed answer: text is held back and checked as it grows (every `stream_check_chars`
characters, or at a sentence end); it is only released after a check passed, and a stream that turns
unsafe is cut with a final chunk whose finish_reason is "content_filter".

An upstream that answers a `stream: true` request with a plain JSON body (servers that do not stream)
is screened like a JSON answer and sent as SSE chunks (app.py); a stream that carries no event at all
ends with an error event, never with an empty success.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any, AsyncIterator

from ..lang import notice_text, refusal_text
from ..screen import BLOCK, HOLD, LOCALIZE, Decision
from .responses import DONE, chunk, error_event

_SENTENCE_END = (".", "!", "?", "。", "！", "？", "।", "\n", "؟", "።", "॥")


def is_event_stream(resp: Any) -> bool:
    """Whether the upstream answered with SSE (anything else is read as one JSON body)."""
    return "text/event-stream" in (resp.headers.get("Content-Type") or "").lower()


def parse_event(line: bytes) -> tuple[str, dict[str, Any] | None, bytes]:
    """('skip' | 'done' | 'event', the parsed event, its payload) for one line of an SSE stream."""
    if not line.strip() or not line.startswith(b"data:"):
        return "skip", None, b""
    payload = line[5:].strip()
    if payload == b"[DONE]":
        return "done", None, payload
    try:
        ev = json.loads(payload)
    except ValueError:
        return "skip", None, payload
    return ("event", ev, payload) if isinstance(ev, dict) else ("skip", None, payload)


def first_choice(ev: dict[str, Any]) -> tuple[str, str | None]:
    """The text piece and finish_reason of choice 0 in a chunk."""
    piece, finish = "", None
    for ch in ev.get("choices") or []:
        if isinstance(ch, dict) and ch.get("index", 0) == 0:
            piece = ((ch.get("delta") or {}).get("content")) or ""
            finish = ch.get("finish_reason")
    return piece, finish


class StreamRelay:
    """One streamed exchange: upstream SSE in, checked SSE out (iterate `relay()`)."""

    def __init__(self, guard: Any, resp: Any, body: dict[str, Any], lang: str | None, rid: str, t0: float,
                 t_up: float, d_in: Decision):
        self.g, self.resp, self.body, self.lang, self.rid = guard, resp, body, lang, rid
        self.messages = body.get("messages") or []
        self.model = str(body.get("model") or "unknown")
        self.t0, self.t_up = t0, t_up
        self.every = max(1, guard.config.stream_check_chars)
        self.held: list[bytes] = []
        self.text = ""
        self.released = 0  # characters the client has seen
        self.checked = 0  # characters covered by the last check
        self.decisions = [d_in]
        self.action, self.status, self.error = "pass", 200, None
        self.events = 0
        self.upstream_s = 0.0

    async def check(self, final: bool) -> Decision:
        d = await self.g.screen.check_output(self.messages, self.text, self.lang, final=final)
        self.decisions.append(d)
        self.checked = len(self.text)
        return d

    def cut(self) -> list[bytes]:
        """The chunks that end a stream the check blocked: the refusal (or, after released text, a notice)."""
        self.action = "blocked_output"
        lang = self.decisions[-1].language
        msg = refusal_text(lang) if self.released == 0 else "\n\n" + notice_text(lang)
        delta = {"content": msg} if self.released else {"role": "assistant", "content": msg}
        return [chunk(self.model, self.rid, delta, None), chunk(self.model, self.rid, {}, "content_filter"), DONE]

    def release(self) -> list[bytes]:
        out, self.held = self.held, []
        self.released = len(self.text)
        return out

    async def on_finish(self, event: bytes) -> list[bytes] | None:
        """The chunk with a finish_reason: a final check; the list to send, or None to end (cut)."""
        d = await self.check(final=True)
        if d.action == BLOCK:
            return None
        if d.action == LOCALIZE and self.released == 0:  # a refusal in another language
            self.action = "localized"
            self.held = []
            self.text = refusal_text(d.language)
            self.released = self.checked = len(self.text)
            return [chunk(self.model, self.rid, {"role": "assistant", "content": self.text}, None), event]
        return self.release() + [event]

    async def on_piece(self) -> list[bytes] | None:
        """After text grew: check when enough is pending; the chunks to release, or None to end (cut)."""
        pending = len(self.text) - self.checked
        if not (pending >= self.every or (pending >= 24 and self.text.rstrip(" ").endswith(_SENTENCE_END))):
            return []
        d = await self.check(final=False)
        if d.action == BLOCK:
            return None
        if d.action == HOLD:
            return []
        return self.release()

    async def relay(self) -> AsyncIterator[bytes]:
        try:
            async for line in self.resp.content:
                kind, ev, payload = parse_event(line)
                if kind == "done":
                    break
                if ev is None:
                    continue
                self.events += 1
                piece, finish = first_choice(ev)
                event = b"data: " + payload + b"\n\n"  # relayed as the upstream wrote it
                self.text += piece
                if finish is not None:
                    send = await self.on_finish(event)
                else:
                    self.held.append(event)
                    send = await self.on_piece()
                if send is None:
                    for c in self.cut():
                        yield c
                    return
                for c in send:
                    yield c
            self.upstream_s = time.perf_counter() - self.t_up
            for c in await self.on_end():
                yield c
        except asyncio.CancelledError:  # the client went away
            self.action, self.status = "client_closed", 499
            raise
        except Exception as e:  # the upstream broke mid-stream: tell the client the OpenAI way
            self.action, self.status, self.error = "upstream_error", 502, type(e).__name__
            self.g.recorder.metrics.inc("upstream_errors")
            yield error_event("The upstream stream broke.", "upstream_stream_error")
        finally:
            self.finish()

    async def on_end(self) -> list[bytes]:
        """The upstream stream ended: release what passed a final check, or report an empty stream."""
        if self.events == 0:  # nothing came: an error, never an empty success
            self.action, self.status, self.error = "upstream_error", 502, "empty_stream"
            self.g.recorder.metrics.inc("upstream_errors")
            return [error_event("The upstream model ended the stream without sending an answer.",
                                "upstream_bad_response")]
        if self.held:  # the stream ended without a finish_reason chunk
            d = await self.check(final=True)
            if d.action == BLOCK:
                return self.cut()
            return self.release() + [DONE]
        return [DONE]

    def finish(self) -> None:
        self.resp.release()
        if not self.upstream_s:
            self.upstream_s = time.perf_counter() - self.t_up
        metrics = self.g.recorder.metrics
        if self.action == "blocked_output":
            metrics.inc("stream_cuts")
            with contextlib.suppress(Exception):
                self.resp.close()
        metrics.count_action(self.action)
        self.g.recorder.record(self.rid, self.t0, self.upstream_s, self.body, self.action, self.decisions,
                               self.status, len(self.text), True, self.error)
