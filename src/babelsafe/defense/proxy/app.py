"""The proxy's HTTP side: the Guard (state), the FastAPI app and its routes, and ways to serve it.

Each chat request: auth (bearer token from --token-env, if set) -> size limit (413) -> JSON parse (400) ->
input check (see babelsafe.defense.screen for what each judge kind checks) -> upstream call (raw body passed
through) -> output check (screening.py; streams: streaming.py) -> answer. A blocked exchange is answered
with a refusal in the user's language (finish_reason "content_filter").
"""
from __future__ import annotations

import contextlib
import gc
import hmac
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

from ...errors import UsageError
from ..lang import refusal_text
from ..screen import Decision, Screen
from .audit import Recorder
from .config import ProxyConfig, secret
from .responses import completion, completion_as_chunks, error_body, refusal_chunks
from .screening import parse_answer, screen_answer
from .streaming import StreamRelay, is_event_stream
from .upstream import Upstream, UpstreamError

try:  # module level: FastAPI resolves the route annotations (`request: Request`) in this namespace
    from starlette.requests import Request
except ImportError:  # pragma: no cover - the `serve` extra is missing; create_app() explains
    Request = Any  # type: ignore[misc,assignment]

_RID_PREFIX = os.urandom(4).hex()
_RID = itertools.count(1)


class Guard:
    """The proxy's state: config, screen, upstream, metrics and audit log."""

    def __init__(self, config: ProxyConfig, screen: Screen | None = None):
        self.config = config
        self.token = secret(config.token_env, "--token-env")
        self.upstream = Upstream(config.upstream, secret(config.upstream_key_env, "--upstream-key-env"),
                                 config.timeout, config.max_connections)
        self.screen = screen or _screen(config)
        self.recorder = Recorder(config.audit_log, config.audit_text)

    @property
    def metrics(self) -> Any:
        return self.recorder.metrics

    def authorized(self, header: str | None) -> bool:
        if not self.token:
            return True
        if not header or not header.lower().startswith("bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self.token.encode())

    async def aclose(self) -> None:
        await self.upstream.aclose()
        await self.screen.aclose()
        self.recorder.close()


def _screen(config: ProxyConfig) -> Screen:
    from ...spec import parse_step  # judges may come in compact form: "llm:rubric=llama_guard,target=..."

    main = parse_step(config.judge)
    inp = parse_step(config.input_judge) if config.input_judge else None
    return Screen(judge=main["name"], judge_options={**main["options"], **config.judge_options},
                  check=config.check, input_judge=inp["name"] if inp else None,
                  input_judge_options=inp["options"] if inp else {}, pivot=config.pivot,
                  translator=config.translator, block_labels=config.block_labels, fail_closed=config.fail_closed)


# -- responses ------------------------------------------------------------------------------------------
def _responses() -> Any:
    try:
        from fastapi import responses
    except ImportError as e:  # pragma: no cover
        raise UsageError("The guard proxy needs FastAPI and uvicorn: pip install 'babelsafe[serve]'") from e
    return responses


def err(status: int, message: str, type_: str, param: str | None = None, code: str | None = None,
        headers: dict[str, str] | None = None) -> Any:
    return _responses().JSONResponse(error_body(message, type_, param, code), status_code=status, headers=headers)


def sse(chunks: Any, headers: dict[str, str]) -> Any:
    async def gen() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c
    body = gen() if isinstance(chunks, list) else chunks
    return _responses().StreamingResponse(body, media_type="text/event-stream", headers=headers)


def unauthorized(guard: Guard) -> Any:
    guard.metrics.inc("unauthorized")
    return err(401, "Missing or invalid bearer token for the babelsafe guard.", "invalid_request_error",
               code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


# -- the chat route, step by step -------------------------------------------------------------------------
@dataclass
class Exchange:
    """One chat request in flight."""

    rid: str
    t0: float
    raw: bytes
    body: dict[str, Any]
    model: str
    stream: bool
    lang: str | None
    headers: dict[str, str]

    @property
    def messages(self) -> list[Any]:
        return self.body["messages"]


async def read_body(guard: Guard, request: Request) -> bytes | Any:
    """The request body, or a 413 response when it is over the size limit."""
    limit = guard.config.max_request_bytes
    too_big = err(413, f"Request body exceeds the guard's limit of {limit} bytes.", "invalid_request_error",
                  code="request_too_large")
    with contextlib.suppress(ValueError):
        if int(request.headers.get("content-length") or 0) > limit:
            guard.metrics.inc("too_large")
            return too_big
    buf = bytearray()
    async for piece in request.stream():
        buf += piece
        if len(buf) > limit:
            guard.metrics.inc("too_large")
            return too_big
    return bytes(buf)


def parse_request(guard: Guard, raw: bytes) -> dict[str, Any] | Any:
    """The request's JSON body, or a 400 response saying what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        guard.metrics.inc("bad_requests")
        return err(400, "We could not parse the JSON body of your request.", "invalid_request_error")
    if not isinstance(body, dict):
        guard.metrics.inc("bad_requests")
        return err(400, "The request body must be a JSON object.", "invalid_request_error")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        guard.metrics.inc("bad_requests")
        return err(400, "'messages' must be a non-empty array of message objects.", "invalid_request_error",
                   param="messages")
    return body


def refuse_input(guard: Guard, ex: Exchange, d_in: Decision) -> Any:
    """The answer to a request the input check blocked: a refusal in the user's language."""
    guard.metrics.inc("blocked_input")
    text = refusal_text(d_in.language)
    guard.recorder.record(ex.rid, ex.t0, 0.0, ex.body, "blocked_input", [d_in], 200, len(text), ex.stream)
    ex.headers["x-babelsafe-action"] = "blocked_input"
    if ex.stream:
        return sse(refusal_chunks(ex.model, ex.rid, text), ex.headers)
    return _responses().JSONResponse(completion(ex.model, text, "content_filter", ex.rid), headers=ex.headers)


def upstream_failed(guard: Guard, ex: Exchange, e: UpstreamError, upstream_s: float, d_in: Decision) -> Any:
    guard.metrics.inc("upstream_errors")
    guard.recorder.record(ex.rid, ex.t0, upstream_s, ex.body, "upstream_error", [d_in], e.status,
                          stream=ex.stream, error=e.code)
    return err(e.status, e.message, e.type, code=e.code, headers={**ex.headers, **(e.headers or {})})


async def answer_json(guard: Guard, ex: Exchange, resp: Any, t_up: float, d_in: Decision) -> Any:
    """A whole (non-streamed) upstream answer, screened; sent as JSON, or as SSE chunks when the client
    asked for a stream and the upstream did not stream."""
    try:
        up_raw = await guard.upstream.read(resp)
    except UpstreamError as e:
        return upstream_failed(guard, ex, e, time.perf_counter() - t_up, d_in)
    upstream_s = time.perf_counter() - t_up
    data = parse_answer(up_raw)
    if data is None:
        return upstream_failed(guard, ex, UpstreamError(502, "The upstream model returned a malformed answer.",
                                                        code="upstream_bad_response"), upstream_s, d_in)
    res = await screen_answer(guard.screen, ex.messages, data, ex.lang)
    guard.metrics.count_action(res.action)
    ex.headers["x-babelsafe-action"] = res.action
    guard.recorder.record(ex.rid, ex.t0, upstream_s, ex.body, res.action, [d_in, *res.decisions], 200,
                          res.answer_chars, ex.stream)
    if ex.stream:
        return sse(completion_as_chunks(data, ex.rid), ex.headers)
    if res.changed:
        return _responses().JSONResponse(data, headers=ex.headers)
    return _responses().Response(up_raw, media_type="application/json", headers=ex.headers)


async def chat(guard: Guard, request: Request) -> Any:
    """POST /v1/chat/completions."""
    t0 = time.perf_counter()
    rid = f"{_RID_PREFIX}{next(_RID):x}"
    guard.metrics.inc("requests")
    if not guard.authorized(request.headers.get("authorization")):
        return unauthorized(guard)
    raw = await read_body(guard, request)
    if not isinstance(raw, bytes):
        return raw
    body = parse_request(guard, raw)
    if not isinstance(body, dict):
        return body
    ex = Exchange(rid, t0, raw, body, str(body.get("model") or "unknown"), bool(body.get("stream")),
                  guard.screen.hint_language(request.headers.get("x-babelsafe-language")),  # None: detect
                  {"x-babelsafe-request-id": rid})
    d_in = await guard.screen.check_input(ex.messages, ex.lang)
    if d_in.blocked:
        return refuse_input(guard, ex, d_in)
    t_up = time.perf_counter()
    try:
        resp = await guard.upstream.open("POST", "/chat/completions", raw)
    except UpstreamError as e:
        return upstream_failed(guard, ex, e, time.perf_counter() - t_up, d_in)
    if ex.stream and is_event_stream(resp):
        relay = StreamRelay(guard, resp, body, ex.lang, rid, t0, t_up, d_in)
        return sse(relay.relay(), ex.headers)
    return await answer_json(guard, ex, resp, t_up, d_in)


def create_app(config: ProxyConfig, screen: Screen | None = None) -> Any:
    """The FastAPI app for `config` (needs the `serve` extra: fastapi + uvicorn)."""
    try:
        from fastapi import FastAPI
    except ImportError as e:  # pragma: no cover
        raise UsageError("The guard proxy needs FastAPI and uvicorn: pip install 'babelsafe[serve]'") from e

    guard = Guard(config, screen)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await guard.screen.warmup()
        # The lexicons, language models and imports are long-lived: keep them out of the cyclic GC's scans
        # (a full collection over them stalls every request in flight for tens of milliseconds).
        gc.collect()
        gc.freeze()
        yield
        await guard.aclose()

    app = FastAPI(title="babelsafe guard", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.guard = guard

    @app.get("/healthz")
    async def healthz() -> Any:
        return {"status": "ok", "upstream": guard.upstream.base_url, "judge": guard.screen.judge,
                "check": list(guard.screen.check or ())}

    @app.get("/metrics")
    async def metrics(request: Request) -> Any:
        if not guard.authorized(request.headers.get("authorization")):
            return unauthorized(guard)
        return guard.metrics.snapshot()

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        if not guard.authorized(request.headers.get("authorization")):
            return unauthorized(guard)
        try:
            raw = await guard.upstream.read(await guard.upstream.open("GET", "/models"))
        except UpstreamError as e:
            guard.metrics.inc("upstream_errors")
            return err(e.status, e.message, e.type, code=e.code, headers=e.headers)
        return _responses().Response(raw, media_type="application/json")

    async def chat_route(request: Request) -> Any:
        return await chat(guard, request)

    # a plain Starlette route: no FastAPI dependency solving on the hot path
    app.add_route("/v1/chat/completions", chat_route, methods=["POST"])
    return app


class ProxyThread:
    """Run an app with uvicorn in a background thread (tests, benchmarks, notebooks)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0):
        import socket

        import uvicorn

        if not port:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                    access_log=False, lifespan="on", timeout_keep_alive=30,
                                                    backlog=4096))
        self._thread = threading.Thread(target=self.server.run, name="babelsafe-guard", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "ProxyThread":
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the guard proxy did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)

    def __enter__(self) -> "ProxyThread":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(config: ProxyConfig, host: str = "127.0.0.1", port: int = 8080, announce: Any = None) -> None:
    """Run the guard proxy in the foreground (Ctrl-C stops it); `announce()` is called once it is built."""
    import uvicorn

    app = create_app(config)
    if announce is not None:
        announce()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, backlog=4096)
