"""The model behind the proxy: one pooled aiohttp session, headers with the upstream key, and upstream
failures mapped to the status the client gets (unreachable / 5xx / bad body -> 502, timeout -> 504,
429 and client errors keep their status; the upstream key never appears in a message)."""
from __future__ import annotations

import asyncio
import json
from typing import Any


class UpstreamError(Exception):
    """An upstream failure, already mapped to the OpenAI-style error the client gets."""

    def __init__(self, status: int, message: str, type_: str = "upstream_error", code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.headers = status, message, type_, code, headers


class Upstream:
    """Requests to the upstream model's OpenAI-compatible API."""

    def __init__(self, base_url: str, key: str | None, timeout: float, max_connections: int = 1000):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.max_connections = max_connections
        self._session: Any = None

    async def session(self) -> Any:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(10.0, self.timeout),
                                              sock_read=self.timeout))
        return self._session

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.key:
            h["Authorization"] = f"Bearer {self.key}"
        return h

    async def open(self, method: str, path: str, body: bytes | None = None) -> Any:
        """The upstream response (status 200), or UpstreamError mapped to the status the client gets."""
        import aiohttp

        sess = await self.session()
        try:
            resp = await asyncio.wait_for(sess.request(method, self.base_url + path, data=body,
                                                       headers=self.headers()), self.timeout)
        except asyncio.TimeoutError as e:
            raise UpstreamError(504, f"The upstream model did not answer within {self.timeout:g}s.",
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
        raise self.map_status(resp.status, raw, resp.headers)

    async def read(self, resp: Any) -> bytes:
        """The whole body of an open response (UpstreamError 502 when the connection breaks mid-body)."""
        try:
            return await resp.read()
        except Exception as e:  # connection dropped mid-body
            raise UpstreamError(502, "The upstream connection broke while reading the answer.", "upstream_error",
                                code="upstream_bad_response") from e
        finally:
            resp.release()

    def map_status(self, status: int, raw: bytes, headers: Any) -> UpstreamError:
        msg = ""
        try:
            body = json.loads(raw)
            err = body.get("error") if isinstance(body, dict) else None
            msg = (err.get("message") if isinstance(err, dict) else str(err or "")) or ""
        except (ValueError, AttributeError):
            msg = raw[:200].decode("utf-8", "replace")
        if self.key:
            msg = msg.replace(self.key, "***")
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
