"""OpenAI-compatible chat target (OpenAI, vLLM, llama.cpp server, Ollama, LiteLLM, ...).

Transports, all with the same errors, Retry-After and content-filter handling (the fault tests in
tests/test_runner.py run on each):

- `raw` (default): the chat-completions JSON posted by http1.JSONPoster, a small keep-alive HTTP/1.1
  client (bearer auth, one pooled connection per request in flight, TLS). When the environment sets an
  HTTP(S)_PROXY for the endpoint, `raw` posts through aiohttp instead (which speaks to proxies).
- `aiohttp`: the same JSON through one aiohttp session.
- `sdk`: the official `openai` SDK over its aiohttp transport; `httpx`: the SDK over httpx (collapses
  at high concurrency on small machines).
Per request the SDK's request layer costs ~0.6 ms of CPU and aiohttp's client ~0.3 ms, about all that
babelsafe's whole per-sample budget allows on a 2-core machine (benchmarks/bench_e2e.py; the decision
is in docs/DESIGN.md). SDK retries are disabled: the runner owns retries, backoff and Retry-After so
every attempt is counted and stored.
"""
from __future__ import annotations

import asyncio
import json
import json.scanner
import logging
import os
import time
from typing import Any

from ..errors import UsageError
from ..types import CONTENT_FILTER, OK, GenParams, Generation, Message, fast_encode
from .base import ProviderError
from .http1 import HTTPError, JSONPoster

log = logging.getLogger(__name__)

TOOL_CALLS_FINISH = "tool_calls"  # finish_reason of an answer whose text is {"content", "tool_calls"} JSON
# compact, non-ASCII kept; one encoder (json.dumps with options builds one per call)
_BODY = fast_encode(json.JSONEncoder(ensure_ascii=False, separators=(",", ":")))
_DECODE = json.JSONDecoder().decode
# json's C scanner itself: JSONDecoder.decode is two Python frames and a whitespace match around it
_SCAN = json.scanner.make_scanner(json.JSONDecoder())
_SPACE = json.decoder.WHITESPACE.match


def _decode_body(raw: bytes) -> Any:
    """The response body's JSON (what json.loads(raw) gives; its errors, ValueError, for bad bodies)."""
    if raw[:1] != b"{":
        return json.loads(raw)
    text = raw.decode("utf-8")  # a UTF-8 object (what servers send): no encoding detection
    try:
        obj, end = _SCAN(text, 0)
    except StopIteration:
        obj, end = None, -1
    if end != len(text) and (end < 0 or _SPACE(text, end).end() != len(text)):
        return _DECODE(text)  # raises the error json.loads would (bad or extra data)
    return obj


def _limits(max_connections: int) -> Any:
    try:
        import httpx2 as httpx  # the SDK's own HTTP layer in openai >= 3
    except ImportError:  # pragma: no cover - older SDKs
        import httpx
    return httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                        keepalive_expiry=30)


class OpenAITarget:
    """Any OpenAI-compatible chat completions endpoint (raw aiohttp by default, or the official SDK)."""

    name = "openai"
    requires = ("model",)  # options without which it cannot be built ("a|b": one of them)
    batched = False  # no generate_batch()
    source = "OpenAI Chat Completions API"
    languages = "any"  # those of the model
    accepts_messages_json = True  # generate(..., messages_json=) reuses the caller's JSON of the messages
    license = "Apache-2.0 (babelsafe's client); the model is under its provider's terms"

    def __init__(self, model: str | None = None, base_url: str | None = None, api_key_env: str | None = None,
                 timeout: float = 60.0, max_connections: int = 1024, transport: str = "raw",
                 organization_env: str | None = None, **_: Any):
        if not model:
            raise UsageError("The openai target needs a model: pass --model NAME (e.g. gpt-4o-mini).")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.api_key_env = api_key_env or "OPENAI_API_KEY"
        key = os.environ.get(self.api_key_env)
        if not key:
            if base_url and _is_loopback(self.base_url):
                key = "not-needed"  # local servers (vLLM, llama.cpp, Ollama) usually take any key
            else:
                raise UsageError(
                    f"No API key: the environment variable {self.api_key_env} is not set. "
                    f"Export it (export {self.api_key_env}=...) or name another with --api-key-env.")
        self._key = key  # kept in memory only; never part of identity(), the store or logs
        self.timeout = timeout
        self.transport = transport
        self.max_connections = max_connections
        self._client: Any = None
        self._session: Any = None
        self._proxy: str | None = None
        self._poster: Any = None
        self._parts: dict[int, tuple[GenParams, tuple[str, str] | None]] = {}
        if self.transport not in ("raw", "aiohttp", "sdk", "httpx"):
            raise UsageError(f"Unknown transport '{transport}' for the openai target: use raw (default, "
                             "fastest), aiohttp, sdk (the openai SDK over aiohttp) or httpx (the SDK over httpx).")

    async def preflight(self) -> None:
        """Fail fast with a clear message when the endpoint's host cannot be reached at all."""
        from urllib.parse import urlparse

        u = urlparse(self.base_url)
        port = u.port or (443 if u.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(u.hostname, port), min(10.0, self.timeout))
            writer.close()
        except (OSError, asyncio.TimeoutError) as e:
            reason = "timed out" if isinstance(e, asyncio.TimeoutError) else (e.strerror or str(e))
            raise UsageError(f"Cannot reach the base URL {self.base_url} ({reason}). Check --base-url and that "
                             f"the server is running.") from e

    def identity(self) -> dict[str, Any]:
        return {"type": "openai", "model": self.model, "base_url": self.base_url}

    @property
    def total_timeout(self) -> float | None:
        """Seconds within which `generate` always returns or raises (a total deadline per request, so the
        caller adds no timer of its own); None for the SDK transports (per-phase timeouts only)."""
        return self.timeout if self.transport in ("raw", "aiohttp") else None

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            http_client = None
            if self.transport == "sdk":
                try:
                    http_client = openai.DefaultAioHttpClient(limits=_limits(self.max_connections),
                                                              timeout=self.timeout)
                except RuntimeError:  # aiohttp extra missing: fall back to httpx
                    log.warning("openai[aiohttp] not installed; using the slower httpx transport")
            self._client = openai.AsyncOpenAI(api_key=self._key, base_url=self.base_url, max_retries=0,
                                              timeout=self.timeout, http_client=http_client)
        return self._client

    def _kwargs(self, messages: list[Message], params: GenParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": params.temperature,
                                  "max_tokens": params.max_tokens}
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = params.stop
        if params.extra_body:
            kwargs["extra_body"] = params.extra_body
        return kwargs

    def _body_parts(self, params: GenParams) -> tuple[str, str] | None:
        """The request body's JSON before and after the messages, for these params (built once per
        params object: a run sends every request of a target with the same one). None when
        extra_body sets `messages` itself."""
        hit = self._parts.get(id(params))
        if hit is not None and hit[0] is params:
            return hit[1]
        kwargs = self._kwargs([], params)
        extra = kwargs.pop("extra_body", None) or {}
        if "messages" in extra:
            parts = None
        else:
            text = _BODY({**kwargs, **extra})
            cut = text.index('"messages":[]') + len('"messages":')
            parts = (text[:cut], text[cut + 2:])
        if len(self._parts) > 64:
            self._parts.clear()
        self._parts[id(params)] = (params, parts)  # holds params, so its id is not reused meanwhile
        return parts

    async def generate(self, messages: list[Message], params: GenParams,
                       messages_json: str | None = None) -> Generation:
        """messages_json: types.canonical_json(messages) when the caller has it (the body reuses it)."""
        t0 = time.perf_counter()
        try:
            if self.transport == "raw":
                resp = await self._create_lean(messages, params, messages_json)
            else:
                resp = await self._create(self._kwargs(messages, params))
        except ProviderError as e:  # provider messages may quote the key (e.g. 401): scrub it
            if self._key and len(self._key) > 4:
                e.args = (str(e).replace(self._key, "***"),)
            raise
        latency = time.perf_counter() - t0
        try:
            choice = resp["choices"][0]
            message = choice.get("message") or {}
            text = message.get("content")
            finish = choice.get("finish_reason")
            usage = resp.get("usage") or {}
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise ProviderError("bad_response", f"response has no choices: {str(resp)[:200]}", retryable=True) from e
        if message.get("tool_calls"):
            # Tool calls travel in the text (as JSON) so the run's cache keeps them: see agents/protocol.py.
            text = json.dumps({"content": text or "", "tool_calls": message["tool_calls"]}, ensure_ascii=False)
            finish = TOOL_CALLS_FINISH
        outcome = CONTENT_FILTER if finish == "content_filter" else OK
        return Generation(text=text or "", outcome=outcome, finish_reason=finish,
                          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                          latency_s=latency)

    async def _create(self, kwargs: dict[str, Any]) -> Any:
        if self.transport == "raw":
            return await self._create_lean(kwargs)
        if self.transport == "aiohttp":
            return await self._create_raw(kwargs)
        import openai

        try:
            # The SDK's low-level post: same auth, errors and transport as chat.completions.create, without
            # its per-request TypedDict transform and pydantic model construction (~25% of client CPU).
            extra = kwargs.pop("extra_body", None) or {}
            return await self._get_client().post("/chat/completions", body={**kwargs, **extra}, cast_to=object)
        except openai.APITimeoutError as e:
            raise ProviderError("timeout", f"request timed out after {self.timeout:g}s", retryable=True) from e
        except openai.APIConnectionError as e:
            raise ProviderError("connection", f"cannot reach {self.base_url}: {_cause(e)}", retryable=True) from e
        except openai.APIStatusError as e:
            raise _status_error(e) from e
        except openai.APIResponseValidationError as e:
            raise ProviderError("bad_response", f"malformed response: {e}", retryable=True) from e
        except ValueError as e:  # broken JSON bodies surface as JSONDecodeError in some SDK versions
            raise ProviderError("bad_response", f"malformed response: {e}", retryable=True) from e

    async def _create_lean(self, messages: list[Message], params: GenParams, messages_json: str | None) -> Any:
        poster = self._poster
        if poster is None:
            if _env_proxy(self.base_url) is not None:  # only aiohttp speaks to proxies
                self.transport = "aiohttp"
                return await self._create_raw(self._kwargs(messages, params))
            poster = self._poster = JSONPoster(self.base_url, {"Authorization": f"Bearer {self._key}"},
                                               self.timeout, self.max_connections)
        parts = self._body_parts(params)
        if parts is None:
            kwargs = self._kwargs(messages, params)
            extra = kwargs.pop("extra_body")
            body = _BODY({**kwargs, **extra}).encode("utf-8")
        else:  # the messages' JSON between the params' (key order does not matter to a server)
            mj = messages_json if messages_json is not None else _BODY(messages)
            body = f"{parts[0]}{mj}{parts[1]}".encode("utf-8")
        try:
            status, headers, raw = await poster.post("/chat/completions", body)
        except (asyncio.TimeoutError, TimeoutError) as e:
            raise ProviderError("timeout", f"request timed out after {self.timeout:g}s", retryable=True) from e
        except (HTTPError, OSError) as e:
            raise ProviderError("connection", f"cannot reach {self.base_url}: {type(e).__name__}: {e}",
                                retryable=True) from e
        if status >= 400:
            raise _raw_status_error(status, raw, headers)
        try:
            return _decode_body(raw)
        except ValueError as e:
            raise ProviderError("bad_response", f"malformed response: {e}", retryable=True) from e

    async def _create_raw(self, kwargs: dict[str, Any]) -> Any:
        import aiohttp

        if self._session is None:
            # HTTP(S)_PROXY / NO_PROXY are read once here, as the SDK honours them; aiohttp's trust_env would
            # re-read the environment and ~/.netrc in a worker thread on every request (16% of a run's CPU).
            self._proxy = _env_proxy(self.base_url)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300),
                headers={"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        extra = kwargs.pop("extra_body", None) or {}
        body = _BODY({**kwargs, **extra}).encode("utf-8")
        try:
            async with self._session.post(self.base_url + "/chat/completions", data=body, proxy=self._proxy) as r:
                raw = await r.read()
                if r.status >= 400:
                    raise _raw_status_error(r.status, raw, r.headers)
        except asyncio.TimeoutError as e:
            raise ProviderError("timeout", f"request timed out after {self.timeout:g}s", retryable=True) from e
        except aiohttp.ClientError as e:
            raise ProviderError("connection", f"cannot reach {self.base_url}: {type(e).__name__}: {e}",
                                retryable=True) from e
        try:
            return json.loads(raw)
        except ValueError as e:
            raise ProviderError("bad_response", f"malformed response: {e}", retryable=True) from e

    async def aclose(self) -> None:
        if self._poster is not None:
            await self._poster.close()
            self._poster = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None


def _raw_status_error(status: int, raw: bytes, headers: Any) -> ProviderError:
    """An error status with the provider's JSON error body (or the first bytes of a non-JSON one)."""
    doc: Any = None
    try:
        doc = json.loads(raw)
    except ValueError:
        pass
    err = doc.get("error") if isinstance(doc, dict) else None
    msg = (err.get("message") if isinstance(err, dict) else None) or raw[:200].decode("utf-8", "replace")
    code = err.get("code") if isinstance(err, dict) else None
    return classify_status(status, msg, code, headers)


def _status_error(e: Any) -> ProviderError:
    body = getattr(e, "body", None)
    code = (body or {}).get("code") if isinstance(body, dict) else None
    headers = getattr(getattr(e, "response", None), "headers", None)
    return classify_status(e.status_code, getattr(e, "message", str(e)), code, headers)


def classify_status(status: int, msg: str, code: str | None, headers: Any) -> ProviderError:
    """An HTTP error status from a provider as a ProviderError (retryable or not)."""
    if status == 429:
        return ProviderError("rate_limit", f"HTTP 429: {msg}", retryable=True, retry_after=_retry_after(headers),
                             status=status)
    if status >= 500 or status == 408:
        return ProviderError("server", f"HTTP {status}: {msg}", retryable=True, retry_after=_retry_after(headers),
                             status=status)
    if code == "content_filter" or "content_filter" in str(msg) or "content management policy" in str(msg):
        return ProviderError("content_filter", f"HTTP {status}: blocked by the provider's content filter",
                             retryable=False, status=status)
    if status in (401, 403):
        return ProviderError("client", f"HTTP {status}: authentication failed — check the API key variable",
                             retryable=False, status=status)
    return ProviderError("client", f"HTTP {status}: {msg}", retryable=False, status=status)


def _retry_after(headers: Any) -> float | None:
    try:
        if headers is None:
            return None
        ms = headers.get("retry-after-ms")
        if ms:
            return float(ms) / 1000
        val = headers.get("retry-after")
        if val:
            try:
                return float(val)
            except ValueError:
                import email.utils

                dt = email.utils.parsedate_to_datetime(val)
                return max(0.0, dt.timestamp() - time.time())
    except Exception:
        return None
    return None


def _env_proxy(url: str) -> str | None:
    """The proxy the environment sets for `url` (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY), or None."""
    import urllib.request
    from urllib.parse import urlparse

    u = urlparse(url)
    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(u.hostname or ""):
        return None
    return proxies.get(u.scheme) or proxies.get("all")


def _cause(e: BaseException) -> str:
    inner = e.__cause__ or e.__context__
    return f"{type(inner).__name__}: {inner}" if inner else str(e)


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlparse

    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
