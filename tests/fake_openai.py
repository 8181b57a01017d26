"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks (aiohttp).

Deterministic answers, switchable latency and faults, and request counters:

    srv = FakeOpenAI().start()          # background thread, random free port
    srv.base_url                        # "http://127.0.0.1:PORT/v1"
    srv.responder = lambda body: "..."  # answer text for a chat request body (default: echo rule below)
    srv.latency = 0.2                   # seconds before each answer
    srv.faults.extend(["429", "500"])   # consumed one per request, in order
    srv.fault_rule = lambda body, n: "500" if ... else None   # n = times this prompt was seen
    srv.streams = False                 # a server that does not stream: `stream: true` gets a JSON body
    srv.count, srv.seen[key]            # total requests; requests per messages-hash
    srv.stop()

Tool calling: a responder may return a dict {"content": str, "tool_calls": [...]} (see `tool_call`), answered
with finish_reason "tool_calls"; `ScriptedAgent(turns)` plays an agent over several turns (turn i answers
a request holding i assistant messages), e.g. ScriptedAgent([[tool_call("list_files", {})], "Done."]).

Faults: "429" (Retry-After: srv.retry_after), "500", "503", "hang" (sleeps srv.hang_s), "reset" (drops the
connection), "malformed" (200 with a broken JSON body), "content_filter" (finish_reason content_filter),
"400" (bad request), "empty_stream" (an SSE stream with no event, only [DONE]). Content parts are checked
like a real server (only text / image_url with a base64 data URL; `srv.text_only = True` refuses images
with 400); received images are in srv.images_received (mime, decoded bytes), refused parts in
srv.bad_parts. Default answer: prompts containing "[refuse]" get a refusal; others "Echo: <prompt>".
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections import Counter
from typing import Any, Callable

from aiohttp import web


def messages_key(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()[:16]


def default_responder(body: dict[str, Any]) -> str:
    msgs = body.get("messages") or []
    last = next((m.get("content", "") for m in reversed(msgs) if m.get("role") == "user"), "")
    if isinstance(last, list):  # content parts
        last = " ".join(p.get("text", "") for p in last if isinstance(p, dict))
    if "[refuse]" in last:
        return "I'm sorry, but I can't help with that request."
    return f"Echo: {last}"


def tool_call(name: str, arguments: Any, id: str | None = None) -> dict[str, Any]:
    """One OpenAI tool call; `arguments` as a dict (sent as JSON text) or a raw string (to send bad JSON)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": id or f"call_{name}", "type": "function", "function": {"name": name, "arguments": args}}


class ScriptedAgent:
    """A responder that plays a scripted agent: turn i answers requests holding i assistant messages.
    A turn is a text (the final answer), a list of tool calls, or a callable(body) -> either.
    Past the end of the script the last turn repeats (a looping agent: script one tool-call turn)."""

    def __init__(self, turns: list[Any]):
        self.turns = turns

    def __call__(self, body: dict[str, Any]) -> str | dict[str, Any]:
        depth = sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")
        turn = self.turns[min(depth, len(self.turns) - 1)]
        if callable(turn):
            turn = turn(body)
        if isinstance(turn, list):
            return {"content": "", "tool_calls": turn}
        return turn


class FakeOpenAI:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port or _free_port()
        self.responder: Callable[[dict[str, Any]], str | dict[str, Any]] = default_responder
        self.latency = 0.0
        self.faults: list[str] = []
        self.fault_rule: Callable[[dict[str, Any], int], str | None] | None = None
        self.retry_after = 0.05
        self.hang_s = 30.0
        self.streams = True
        self.require_key: str | None = None
        self.count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.seen: Counter[str] = Counter()
        self.auth_headers: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.keep_bodies = True
        # content parts: every image_url part received (decoded), parts it refused, text-only mode
        self.images_received: list[dict[str, Any]] = []
        self.bad_parts: list[str] = []
        self.text_only = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "FakeOpenAI":
        self._thread = threading.Thread(target=self._serve, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096, reuse_address=True)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        if self._loop and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset_counters(self) -> None:
        self.count = 0
        self.seen.clear()
        self.bodies.clear()
        self.auth_headers.clear()
        self.images_received.clear()
        self.bad_parts.clear()

    # -- handlers ------------------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._chat_inner(request)
        finally:
            self.in_flight -= 1

    async def _chat_inner(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        self.auth_headers.append(request.headers.get("Authorization", ""))
        if self.require_key is not None and request.headers.get("Authorization") != f"Bearer {self.require_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        problem = self._check_parts(body)
        if problem:
            self.bad_parts.append(problem)
            return _error(400, problem, "invalid_request_error")
        key = messages_key(body)
        self.seen[key] += 1
        if self.keep_bodies:
            self.bodies.append(body)
        fault = self.faults.pop(0) if self.faults else None
        if fault is None and self.fault_rule is not None:
            fault = self.fault_rule(body, self.seen[key])
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault == "429":
            return _error(429, "Rate limit reached.", "rate_limit_exceeded",
                          headers={"Retry-After": str(self.retry_after)})
        if fault in ("500", "503"):
            return _error(int(fault), "The server had an error while processing your request.", "server_error")
        if fault == "400":
            return _error(400, "Invalid request.", "invalid_request_error")
        if fault == "hang":
            await asyncio.sleep(self.hang_s)
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if fault == "empty_stream":
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        if fault == "malformed":
            return web.Response(status=200, body=b'{"id": "x", "choices": [', content_type="application/json")
        answer = self.responder(body)
        tool_calls = None
        if isinstance(answer, dict):  # an assistant message with tool calls
            text, tool_calls = answer.get("content") or "", answer.get("tool_calls")
        else:
            text = answer
        finish = "content_filter" if fault == "content_filter" else ("tool_calls" if tool_calls else "stop")
        if fault == "content_filter":
            text = ""
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        words = text.split(" ")
        if max_tokens and len(words) > max_tokens:
            text, finish = " ".join(words[:max_tokens]), "length"
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                 "total_tokens": prompt_tokens + len(text.split())}
        model = body.get("model", "fake-model")
        if body.get("stream") and self.streams:
            return await self._stream(request, model, text, finish, usage)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool_calls:
            message["tool_calls"] = tool_calls
            message["content"] = text or None
        return web.json_response({
            "id": f"chatcmpl-{self.count}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        })

    def _check_parts(self, body: dict[str, Any]) -> str | None:
        """Validate OpenAI-style content parts like a real server; record the images (decoded)."""
        import base64
        import re

        for m in body.get("messages") or []:
            content = m.get("content")
            if isinstance(content, str) or content is None:
                continue
            if not isinstance(content, list):
                return f"Invalid type for 'content': {type(content).__name__}"
            for p in content:
                kind = p.get("type") if isinstance(p, dict) else None
                if kind == "text" and isinstance(p.get("text"), str):
                    continue
                if kind != "image_url":
                    return f"Invalid content part type: {kind!r} (expected 'text' or 'image_url')"
                if self.text_only:
                    return "This model does not support image inputs."
                url = (p.get("image_url") or {}).get("url", "")
                mt = re.match(r"data:(image/[a-z]+);base64,(.*)$", url, re.S)
                if not mt:
                    return "image_url must be a base64 data URL in this fake server"
                try:
                    data = base64.b64decode(mt.group(2), validate=True)
                except ValueError:
                    return "image_url data is not valid base64"
                self.images_received.append({"mime": mt.group(1), "bytes": data, "role": m.get("role")})
        return None

    async def _stream(self, request: web.Request, model: str, text: str, finish: str,
                      usage: dict[str, int]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        pieces = [w + " " for w in text.split(" ")]
        if pieces:
            pieces[-1] = pieces[-1][:-1]
        base = {"id": f"chatcmpl-{self.count}", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model}
        for i, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            chunk = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": None}])
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        chunk = dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": finish}], usage=usage)
        await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _error(status: int, message: str, type_: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": type_}}
    return web.json_response(body, status=status, headers=headers)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_forever(srv: FakeOpenAI) -> None:
    """Start `srv` (bodies not kept), print its base URL for the parent process, run until interrupted."""
    srv.keep_bodies = False
    srv.start()
    print(srv.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":  # python tests/fake_openai.py PORT [LATENCY]
    import sys

    srv = FakeOpenAI(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    srv.latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    serve_forever(srv)
