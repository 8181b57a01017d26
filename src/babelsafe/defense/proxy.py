"""The guardrail proxy: an OpenAI-compatible server (FastAPI) in front of any chat model.

    babelsafe guard serve --upstream http://127.0.0.1:8000/v1 --judge refusal

Endpoints: POST /v1/chat/completions (JSON and streaming SSE), GET /v1/models (passed through),
GET /metrics (counters and latency percentiles), GET /healthz.

Each request: auth (bearer token from --token-env, if set) -> size limit (413) -> JSON parse (400) -> input
check (see babelsafe.defense.screen for what each judge kind checks) -> upstream call (raw body passed
through; aiohttp) -> output check -> answer. A blocked exchange is answered with a refusal in the user's
language (finish_reason "content_filter"). Streams are held back and checked as they grow (every
`stream_check_chars` characters or at a sentence end); text is only released after a check passed, and a
stream that turns unsafe is cut with a final chunk whose finish_reason is "content_filter".

Upstream failures map to OpenAI-style errors: unreachable / 5xx / bad body -> 502, timeout -> 504, 429 and
client errors keep their status. The audit log (JSONL) records decisions with a hash of the prompt, never
a key or an Authorization header; prompt text is only logged with `audit_text=True`.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

from ..errors import UsageError
from .screen import BLOCK, HOLD, LOCALIZE, Decision, Screen, last_user_text
from .lang import notice_text, refusal_text

try:  # module level: FastAPI resolves the route annotations (`request: Request`) in this namespace
    from starlette.requests import Request
except ImportError:  # pragma: no cover - the `serve` extra is missing; create_app() explains
    Request = Any  # type: ignore[misc,assignment]

log = logging.getLogger(__name__)

_RID_PREFIX = os.urandom(4).hex()
_RID = itertools.count(1)
_SENTENCE_END = (".", "!", "?", "。", "！", "？", "।", "\n", "؟", "።", "॥")


@dataclass
class ProxyConfig:
    """Everything `babelsafe guard serve` takes. Secrets are read from the named env vars at start."""

    upstream: str
    judge: str = "refusal"
    judge_options: dict[str, Any] = field(default_factory=dict)
    check: str | tuple[str, ...] | None = None
    input_judge: str | None = None
    pivot: bool = False
    translator: str | dict[str, Any] | None = None
    block_labels: tuple[str, ...] | None = None
    fail_closed: bool = False
    token_env: str | None = None
    upstream_key_env: str | None = None
    max_request_bytes: int = 1_000_000
    timeout: float = 60.0
    audit_log: str | None = None
    audit_text: bool = False
    stream_check_chars: int = 160
    max_connections: int = 1000


class Metrics:
    """Counters and latency windows (last 20k requests) for GET /metrics."""

    COUNTERS = ("requests", "passed", "blocked_input", "blocked_output", "localized", "stream_cuts",
                "upstream_errors", "bad_requests", "unauthorized", "too_large", "judge_errors")

    def __init__(self, window: int = 20000):
        self.counts = {k: 0 for k in self.COUNTERS}
        self.total = deque(maxlen=window)
        self.overhead = deque(maxlen=window)
        self.check = deque(maxlen=window)
        self.started = time.time()

    def inc(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    @staticmethod
    def _pct(values: deque) -> dict[str, float | None]:
        if not values:
            return {"p50": None, "p90": None, "p99": None, "n": 0}
        s = sorted(values)
        pick = lambda q: round(s[min(len(s) - 1, int(q * len(s)))], 3)  # noqa: E731
        return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "n": len(s)}

    def snapshot(self) -> dict[str, Any]:
        return {"counters": dict(self.counts), "uptime_s": round(time.time() - self.started, 1),
                "latency_ms": {"total": self._pct(self.total), "added": self._pct(self.overhead),
                               "checks": self._pct(self.check)}}


class AuditLog:
    """Append-only JSONL of decisions (line-buffered; safe across the server's threads)."""

    def __init__(self, path: str | None, flush_s: float = 0.5):
        self._f = None
        self._lock = threading.Lock()
        self._flush_s = flush_s
        self._scheduled = False
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._f = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Buffered: flushed at most every `flush_s` seconds (and on close), not one syscall per line."""
        if self._f is None:
            return
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        with self._lock:
            self._f.write(line + "\n")
            if not self._scheduled:
                self._scheduled = True
                try:
                    asyncio.get_running_loop().call_later(self._flush_s, self.flush)
                except RuntimeError:  # no loop (direct use): flush now
                    self._f.flush()
                    self._scheduled = False

    def flush(self) -> None:
        with self._lock:
            self._scheduled = False
            if self._f is not None:
                self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class UpstreamError(Exception):
    def __init__(self, status: int, message: str, type_: str = "upstream_error", code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.headers = status, message, type_, code, headers


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _completion(model: str, text: str, finish: str, rid: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-guard-{rid}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                         "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def _chunk(model: str, rid: str, delta: dict[str, Any], finish: str | None, index: int = 0) -> bytes:
    body = {"id": f"chatcmpl-guard-{rid}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


class Guard:
    """The proxy's state: config, screen, upstream session, metrics and audit log."""

    def __init__(self, config: ProxyConfig, screen: Screen | None = None):
        self.config = config
        self.upstream = config.upstream.rstrip("/")
        self.token = _secret(config.token_env, "--token-env")
        self.upstream_key = _secret(config.upstream_key_env, "--upstream-key-env")
        if screen is None:
            from ..spec import parse_step  # judges may come in compact form: "llm:rubric=llama_guard,target=..."

            main = parse_step(config.judge)
            inp = parse_step(config.input_judge) if config.input_judge else None
            screen = Screen(judge=main["name"], judge_options={**main["options"], **config.judge_options},
                            check=config.check, input_judge=inp["name"] if inp else None,
                            input_judge_options=inp["options"] if inp else {}, pivot=config.pivot,
                            translator=config.translator, block_labels=config.block_labels,
                            fail_closed=config.fail_closed)
        self.screen = screen
        self.metrics = Metrics()
        self.audit = AuditLog(config.audit_log)
        self._session: Any = None

    # -- upstream ------------------------------------------------------------------------------
    async def session(self) -> Any:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.max_connections, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(10.0, self.config.timeout),
                                              sock_read=self.config.timeout))
        return self._session

    def upstream_headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.upstream_key:
            h["Authorization"] = f"Bearer {self.upstream_key}"
        return h

    async def open_upstream(self, method: str, path: str, body: bytes | None = None) -> Any:
        """The upstream response (status 200), or UpstreamError mapped to the status the client gets."""
        import aiohttp

        sess = await self.session()
        url = self.upstream + path
        try:
            resp = await asyncio.wait_for(sess.request(method, url, data=body, headers=self.upstream_headers()),
                                          self.config.timeout)
        except asyncio.TimeoutError as e:
            raise UpstreamError(504, f"The upstream model did not answer within {self.config.timeout:g}s.",
                                code="upstream_timeout") from e
        except aiohttp.ClientError as e:
            raise UpstreamError(502, f"Cannot reach the upstream model ({type(e).__name__}).",
                                code="upstream_unreachable") from e
        if resp.status == 200:
            return resp
        try:
            raw = await resp.read()
        finally:
            resp.release()
        raise self._map_status(resp.status, raw, resp.headers)

    def _map_status(self, status: int, raw: bytes, headers: Any) -> UpstreamError:
        msg = ""
        try:
            body = json.loads(raw)
            err = body.get("error") if isinstance(body, dict) else None
            msg = (err.get("message") if isinstance(err, dict) else str(err or "")) or ""
        except (ValueError, AttributeError):
            msg = raw[:200].decode("utf-8", "replace")
        if self.upstream_key:
            msg = msg.replace(self.upstream_key, "***")
        if status == 429:
            extra = {k: headers[k] for k in ("Retry-After", "retry-after-ms") if k in headers}
            return UpstreamError(429, f"Upstream rate limit: {msg}", "rate_limit_exceeded", "rate_limit_exceeded",
                                 headers=extra)
        if status in (401, 403):
            return UpstreamError(502, "The upstream model rejected the proxy's credentials (check "
                                      "--upstream-key-env).", code="upstream_auth")
        if status >= 500 or status == 408:
            return UpstreamError(504 if status in (504, 408) else 502, f"Upstream error (HTTP {status}): {msg}",
                                 code="upstream_error")
        return UpstreamError(status, msg or f"Upstream rejected the request (HTTP {status}).",
                             "invalid_request_error", code="upstream_rejected")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self.screen.aclose()
        self.audit.close()

    # -- helpers -------------------------------------------------------------------------------
    def authorized(self, header: str | None) -> bool:
        if not self.token:
            return True
        if not header or not header.lower().startswith("bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self.token.encode())

    def record(self, rid: str, t0: float, upstream_s: float, body: dict[str, Any] | None, action: str,
               decisions: list[Decision], status: int, answer_chars: int = 0, stream: bool = False,
               error: str | None = None) -> None:
        total = (time.perf_counter() - t0) * 1000
        m = self.metrics
        m.total.append(total)
        if upstream_s:
            m.overhead.append(max(0.0, total - upstream_s * 1000))
        for d in decisions:
            if d.action != "skip":
                m.check.append(d.latency_ms)
            if d.label == "judge_error":
                m.inc("judge_errors")
        prompt = last_user_text((body or {}).get("messages") or []) if body else ""
        rec: dict[str, Any] = {
            "ts": round(time.time(), 3), "id": rid, "action": action, "status": status, "stream": stream,
            "model": (body or {}).get("model"),
            "language": next((d.language for d in reversed(decisions) if d.language != "und"), None),
            "decisions": [d.as_dict() for d in decisions], "latency_ms": round(total, 3),
            "upstream_ms": round(upstream_s * 1000, 3) if upstream_s else None,
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest()[:16] if prompt else None,
            "prompt_chars": len(prompt), "answer_chars": answer_chars}
        if error:
            rec["error"] = error
        if self.config.audit_text:
            rec["prompt"] = prompt[:500]
        self.audit.write(rec)


def _secret(env: str | None, flag: str) -> str | None:
    if not env:
        return None
    val = os.environ.get(env)
    if not val:
        raise UsageError(f"{flag} names the environment variable {env}, but it is not set. Export it first "
                         f"(export {env}=...).")
    return val


def create_app(config: ProxyConfig, screen: Screen | None = None) -> Any:
    """The FastAPI app for `config` (needs the `serve` extra: fastapi + uvicorn)."""
    try:
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse, Response, StreamingResponse
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

    def err(status: int, message: str, type_: str, param: str | None = None, code: str | None = None,
            headers: dict[str, str] | None = None) -> Any:
        return JSONResponse(error_body(message, type_, param, code), status_code=status, headers=headers)

    def unauthorized() -> Any:
        guard.metrics.inc("unauthorized")
        return err(401, "Missing or invalid bearer token for the babelsafe guard.", "invalid_request_error",
                   code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    async def healthz() -> Any:
        return {"status": "ok", "upstream": guard.upstream, "judge": guard.screen.judge,
                "check": list(guard.screen.check or ())}

    @app.get("/metrics")
    async def metrics(request: Request) -> Any:
        if not guard.authorized(request.headers.get("authorization")):
            return unauthorized()
        return guard.metrics.snapshot()

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        if not guard.authorized(request.headers.get("authorization")):
            return unauthorized()
        try:
            resp = await guard.open_upstream("GET", "/models")
            raw = await resp.read()
            resp.release()
        except UpstreamError as e:
            guard.metrics.inc("upstream_errors")
            return err(e.status, e.message, e.type, code=e.code, headers=e.headers)
        return Response(raw, media_type="application/json")

    async def chat(request: Request) -> Any:
        t0 = time.perf_counter()
        rid = f"{_RID_PREFIX}{next(_RID):x}"
        g = guard
        g.metrics.inc("requests")
        if not g.authorized(request.headers.get("authorization")):
            return unauthorized()
        limit = g.config.max_request_bytes
        too_big = err(413, f"Request body exceeds the guard's limit of {limit} bytes.", "invalid_request_error",
                      code="request_too_large")
        try:
            if int(request.headers.get("content-length") or 0) > limit:
                g.metrics.inc("too_large")
                return too_big
        except ValueError:
            pass
        buf = bytearray()
        async for piece in request.stream():
            buf += piece
            if len(buf) > limit:
                g.metrics.inc("too_large")
                return too_big
        raw = bytes(buf)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            g.metrics.inc("bad_requests")
            return err(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        if not isinstance(body, dict):
            g.metrics.inc("bad_requests")
            return err(400, "The request body must be a JSON object.", "invalid_request_error")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            g.metrics.inc("bad_requests")
            return err(400, "'messages' must be a non-empty array of message objects.", "invalid_request_error",
                       param="messages")
        model = str(body.get("model") or "unknown")
        stream = bool(body.get("stream"))
        lang = g.screen.hint_language(request.headers.get("x-babelsafe-language"))  # None: detect when needed
        headers = {"x-babelsafe-request-id": rid}

        d_in = await g.screen.check_input(messages, lang)
        if d_in.blocked:
            g.metrics.inc("blocked_input")
            text = refusal_text(d_in.language)
            g.record(rid, t0, 0.0, body, "blocked_input", [d_in], 200, len(text), stream)
            headers["x-babelsafe-action"] = "blocked_input"
            if stream:
                async def refuse() -> AsyncIterator[bytes]:
                    yield _chunk(model, rid, {"role": "assistant", "content": text}, None)
                    yield _chunk(model, rid, {}, "content_filter")
                    yield b"data: [DONE]\n\n"
                return StreamingResponse(refuse(), media_type="text/event-stream", headers=headers)
            return JSONResponse(_completion(model, text, "content_filter", rid), headers=headers)

        t_up = time.perf_counter()
        try:
            resp = await g.open_upstream("POST", "/chat/completions", raw)
        except UpstreamError as e:
            g.metrics.inc("upstream_errors")
            g.record(rid, t0, time.perf_counter() - t_up, body, "upstream_error", [d_in], e.status,
                     stream=stream, error=e.code)
            return err(e.status, e.message, e.type, code=e.code, headers={**headers, **(e.headers or {})})
        if stream:
            return StreamingResponse(_stream(g, resp, body, messages, model, lang, rid, t0, t_up, d_in),
                                     media_type="text/event-stream", headers=headers)
        try:
            up_raw = await resp.read()
        except Exception as e:  # connection dropped mid-body
            g.metrics.inc("upstream_errors")
            g.record(rid, t0, time.perf_counter() - t_up, body, "upstream_error", [d_in], 502, error=str(type(e)))
            return err(502, "The upstream connection broke while reading the answer.", "upstream_error",
                       code="upstream_bad_response", headers=headers)
        finally:
            resp.release()
        upstream_s = time.perf_counter() - t_up
        try:
            data = json.loads(up_raw)
            choices = data["choices"]
        except (ValueError, KeyError, TypeError):
            g.metrics.inc("upstream_errors")
            g.record(rid, t0, upstream_s, body, "upstream_error", [d_in], 502, error="bad_response")
            return err(502, "The upstream model returned a malformed answer.", "upstream_error",
                       code="upstream_bad_response", headers=headers)
        decisions = [d_in]
        changed = False
        action = "pass"
        answer_chars = 0
        for ch in choices if isinstance(choices, list) else []:
            msg = ch.get("message") if isinstance(ch, dict) else None
            text = msg.get("content") if isinstance(msg, dict) else None
            if not isinstance(text, str):
                continue
            answer_chars += len(text)
            d = await g.screen.check_output(messages, text, lang)
            decisions.append(d)
            if d.action in (BLOCK, LOCALIZE):
                msg["content"] = refusal_text(d.language)
                changed = True
                if d.action == BLOCK:
                    ch["finish_reason"] = "content_filter"
                    action = "blocked_output"
                elif action == "pass":
                    action = "localized"
        if action == "blocked_output":
            g.metrics.inc("blocked_output")
        elif action == "localized":
            g.metrics.inc("localized")
        else:
            g.metrics.inc("passed")
        headers["x-babelsafe-action"] = action
        g.record(rid, t0, upstream_s, body, action, decisions, 200, answer_chars)
        if changed:
            return JSONResponse(data, headers=headers)
        return Response(up_raw, media_type="application/json", headers=headers)

    # a plain Starlette route: no FastAPI dependency solving on the hot path
    app.add_route("/v1/chat/completions", chat, methods=["POST"])
    return app


async def _stream(g: Guard, resp: Any, body: dict[str, Any], messages: list[Any], model: str, lang: str | None,
                  rid: str, t0: float, t_up: float, d_in: Decision) -> AsyncIterator[bytes]:
    """Relay the upstream SSE stream, releasing text only after it passed a check."""
    every = max(1, g.config.stream_check_chars)
    held: list[bytes] = []
    text = ""
    released_chars = 0
    checked_len = 0
    decisions = [d_in]
    action = "pass"
    status = 200
    error: str | None = None
    upstream_s = 0.0

    async def check(final: bool) -> Decision:
        d = await g.screen.check_output(messages, text, lang, final=final)
        decisions.append(d)
        return d

    def cut_chunks() -> list[bytes]:
        lang_d = decisions[-1].language
        msg = refusal_text(lang_d) if released_chars == 0 else "\n\n" + notice_text(lang_d)
        return [_chunk(model, rid, {"content": msg} if released_chars else {"role": "assistant", "content": msg},
                       None), _chunk(model, rid, {}, "content_filter"), b"data: [DONE]\n\n"]

    try:
        async for line in resp.content:
            if not line.strip():
                continue
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                break
            try:
                ev = json.loads(payload)
            except ValueError:
                continue
            finish = None
            piece = ""
            for ch in ev.get("choices") or []:
                if ch.get("index", 0) != 0:
                    continue
                piece = ((ch.get("delta") or {}).get("content")) or ""
                finish = ch.get("finish_reason")
            event = b"data: " + payload + b"\n\n"
            text += piece
            if finish is not None:
                d = await check(final=True)
                if d.action == BLOCK:
                    action = "blocked_output"
                    for c in cut_chunks():
                        yield c
                    return
                if d.action == LOCALIZE and released_chars == 0:  # a refusal in another language
                    action = "localized"
                    held = []
                    text = refusal_text(d.language)
                    released_chars = checked_len = len(text)
                    yield _chunk(model, rid, {"role": "assistant", "content": text}, None)
                    yield event
                    continue
                checked_len = len(text)
                for c in held:
                    yield c
                held = []
                released_chars = len(text)
                yield event
                continue
            held.append(event)
            pending = len(text) - checked_len
            if pending >= every or (pending >= 24 and text.rstrip(" ").endswith(_SENTENCE_END)):
                d = await check(final=False)
                checked_len = len(text)
                if d.action == BLOCK:
                    action = "blocked_output"
                    for c in cut_chunks():
                        yield c
                    return
                if d.action == HOLD:
                    continue
                for c in held:
                    yield c
                held = []
                released_chars = len(text)
        upstream_s = time.perf_counter() - t_up
        if held:  # the stream ended without a finish_reason chunk
            d = await check(final=True)
            if d.action == BLOCK:
                action = "blocked_output"
                for c in cut_chunks():
                    yield c
                return
            for c in held:
                yield c
        yield b"data: [DONE]\n\n"
    except asyncio.CancelledError:  # the client went away
        action, status = "client_closed", 499
        raise
    except Exception as e:  # the upstream broke mid-stream: tell the client the OpenAI way
        action, status, error = "upstream_error", 502, type(e).__name__
        g.metrics.inc("upstream_errors")
        yield (b"data: " + json.dumps(error_body("The upstream stream broke.", "upstream_error",
                                                 code="upstream_stream_error")).encode() + b"\n\n")
    finally:
        resp.release()
        if not upstream_s:
            upstream_s = time.perf_counter() - t_up
        if action == "blocked_output":
            g.metrics.inc("blocked_output")
            g.metrics.inc("stream_cuts")
            with contextlib.suppress(Exception):
                resp.close()
        elif action == "localized":
            g.metrics.inc("localized")
        elif action == "pass":
            g.metrics.inc("passed")
        g.record(rid, t0, upstream_s, body, action, decisions, status, len(text), True, error)


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


def config_from_flags(upstream: str, judge: str = "refusal", check: str | None = None,
                      judge_options: str | None = None, input_judge: str | None = None, pivot: bool = False,
                      translator: str | None = None, block_labels: str | None = None, **rest: Any) -> ProxyConfig:
    """A ProxyConfig from CLI strings (JSON judge options, a translator spec, comma lists)."""
    from ..spec import parse_target

    if not upstream.startswith(("http://", "https://")):
        raise UsageError(f"--upstream must be an http(s) base URL like http://127.0.0.1:8000/v1, not '{upstream}'.")
    opts: dict[str, Any] = {}
    if judge_options:
        try:
            opts = json.loads(judge_options)
        except json.JSONDecodeError as e:
            raise UsageError(f"--judge-options is not valid JSON: {e}") from e
    return ProxyConfig(upstream=upstream, judge=judge, judge_options=opts,
                       check=tuple(c.strip() for c in check.split(",") if c.strip()) if check else None,
                       input_judge=input_judge, pivot=pivot, translator=parse_target(translator),
                       block_labels=tuple(b.strip() for b in block_labels.split(",")) if block_labels else None,
                       **rest)


def serve(config: ProxyConfig, host: str = "127.0.0.1", port: int = 8080, announce: Any = None) -> None:
    """Run the guard proxy in the foreground (Ctrl-C stops it); `announce()` is called once it is built."""
    import uvicorn

    app = create_app(config)
    if announce is not None:
        announce()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, backlog=4096)
