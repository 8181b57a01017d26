"""A small HTTP/1.1 keep-alive client for JSON POSTs: what the `raw` transport of the openai target uses.

Why not aiohttp: per request, aiohttp's client builds a request object, multidicts of headers, a
response object, timers and stream readers: ~0.3 ms of CPU on the 2-core development machine, as much
as everything else babelsafe does per sample (judge, store, cache key) together. This client writes one
pre-built header block and parses the response in a Protocol callback: a tenth of that
(benchmarks/bench_e2e.py). It does only what the chat-completions call needs: POST with a body, a
Content-Length or chunked response (gzip/deflate decoded), keep-alive pooling (one connection per request
in flight), TLS with the system's CA store, and a total timeout. A request on a reused connection that
the server had closed meanwhile is sent again once on a fresh one (as browsers and aiohttp do).
Proxies: the caller uses aiohttp instead when the environment sets one.
"""
from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlparse

from ..concurrency import Gate


class HTTPError(ConnectionError):
    """The connection failed or the response could not be read."""


class _Conn(asyncio.Protocol):
    __slots__ = ("transport", "buf", "waiter", "closed", "reused", "_head", "_need", "_chunked", "_eof_body")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.reused = False
        self._head: tuple[int, _Headers] | None = None
        self._need = -1
        self._chunked = False
        self._eof_body = False

    # -- asyncio callbacks ---------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            try:
                self._parse()
            except Exception as e:  # noqa: BLE001 - a malformed response fails this request only
                self.closed = True
                self.waiter.set_exception(HTTPError(f"unreadable HTTP response: {e}"))
                if self.transport is not None:
                    self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        w = self.waiter
        if w is not None and not w.done():
            if self._eof_body and self._head is not None:  # body delimited by the connection's end
                w.set_result((self._head[0], self._head[1], bytes(self.buf)))
            else:
                w.set_exception(HTTPError(f"server closed the connection{f': {exc}' if exc else ''}"))

    # -- one exchange --------------------------------------------------------------------------
    def send(self, data: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future:
        self.waiter = loop.create_future()
        self._head, self._need, self._chunked, self._eof_body = None, -1, False, False
        assert self.transport is not None
        self.transport.write(data)
        return self.waiter

    def _parse(self) -> None:
        buf = self.buf
        if self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            text = buf[:end].decode("latin-1")
            del buf[: end + 4]
            need = _plain_length(text)
            if need >= 0:  # the usual answer: its headers are read only if someone asks (see _Headers)
                self._head, self._need = (200, _Headers(text)), need
            else:
                lines = text.split("\r\n")
                parts = lines[0].split(" ", 2)
                if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                    raise ValueError(f"bad status line {lines[0][:80]!r}")
                status = int(parts[1])
                headers = _Headers(text, _fields(lines))
                if status == 100:  # Continue: the real head follows
                    self._parse()
                    return
                self._head = (status, headers)
                if parts[0] == "HTTP/1.0" or headers.get("connection", "").lower() == "close":
                    self.closed = True  # not reusable
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    self._chunked = True
                elif "content-length" in headers:
                    self._need = int(headers["content-length"])
                elif status in (204, 304):
                    self._need = 0
                else:
                    self._eof_body = True
                    self.closed = True
                    return
        status, headers = self._head
        if self._chunked:
            body = _dechunk(buf)
            if body is None:
                return
        elif self._need >= 0:
            need = self._need
            if len(buf) < need:
                return
            if len(buf) == need:  # the whole buffer is the body (the usual case): no slice copy
                body = bytes(buf)
                buf.clear()
            else:
                body = bytes(buf[:need])
                del buf[:need]
        else:
            return
        self.waiter.set_result((status, headers, body))  # type: ignore[union-attr]


def _fields(lines: list[str]) -> dict[str, str]:
    """Header lines (after the status line) as {lower-cased name: value}; a repeated name: the last."""
    headers: dict[str, str] = {}
    for i in range(1, len(lines)):
        k, _, v = lines[i].partition(":")
        headers[k.strip().lower()] = v.strip()
    return headers


def _plain_length(head: str) -> int:
    """The Content-Length of a plain "HTTP/1.1 200" head (exactly one Content-Length header, and no
    Transfer-Encoding, Connection or Content-Encoding one), else -1. For such a head this is what the
    full parse decides (a kept-alive connection, a body of that length), without building the header
    dict for every answer."""
    if not head.startswith("HTTP/1.1 200 "):
        return -1
    low = head.lower()
    if low.count("content-length") != 1 or "transfer-encoding" in low or "connection" in low \
            or "content-encoding" in low:
        return -1
    i = low.find("\r\ncontent-length:")
    if i < 0:
        return -1
    j = low.find("\r\n", i + 17)
    try:
        return int(head[i + 17: j if j >= 0 else len(head)])  # int() strips the spaces strip() would
    except ValueError:
        return -1  # the full parse raises its own error


class _Headers(Mapping[str, str]):
    """A response's headers, lower-cased names; parsed from the head's text when first read."""

    __slots__ = ("_text", "_d")

    def __init__(self, text: str, fields: dict[str, str] | None = None):
        self._text, self._d = text, fields

    def _dict(self) -> dict[str, str]:
        d = self._d
        if d is None:
            d = self._d = _fields(self._text.split("\r\n"))
        return d

    def __getitem__(self, name: str) -> str:
        return self._dict()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __repr__(self) -> str:  # without keeping the parse (asyncio's debug mode reprs every result)
        return repr(self._d if self._d is not None else _fields(self._text.split("\r\n")))


def _expire(fut: asyncio.Future, seconds: float) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError(f"no complete response within {seconds:g}s"))


def _dechunk(buf: bytearray) -> bytes | None:
    """The body of a complete chunked message at the start of buf (consumed), or None if incomplete."""
    out = bytearray()
    pos = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol) if buf[eol + 2: eol + 4] != b"\r\n" else eol
            if end < 0:
                return None
            del buf[: end + 4]
            return bytes(out)
        start = eol + 2
        if len(buf) < start + size + 2:
            return None
        out += buf[start: start + size]
        pos = start + size + 2


class JSONPoster:
    """POST JSON bodies to one origin over pooled keep-alive connections."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float, max_connections: int = 1024):
        u = urlparse(base_url)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {u.scheme!r}")
        self.host = u.hostname or "localhost"
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = ssl.create_default_context() if u.scheme == "https" else None
        self.path_prefix = u.path.rstrip("/")
        host_header = u.hostname if u.port is None else f"{u.hostname}:{u.port}"
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._head_tail = (f"Host: {host_header}\r\nAccept: application/json\r\nAccept-Encoding: gzip, deflate\r\n"
                           f"Connection: keep-alive\r\n{extra}Content-Type: application/json\r\n"
                           f"Content-Length: ").encode("latin-1")
        self._lines: dict[str, bytes] = {}  # path -> request line + the fixed headers
        self.timeout = timeout
        self._idle: list[_Conn] = []
        self._gate = Gate(max_connections)  # at most max_connections exchanges at once
        # response futures in flight -> deadline, in the order sent (= deadline order): see _watch
        self._pending: dict[asyncio.Future, float] = {}
        self._last = 0.0  # the latest deadline in _pending
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        """(status, lower-cased headers, decoded body); raises HTTPError, OSError or TimeoutError."""
        head = self._lines.get(path)
        if head is None:
            head = self._lines[path] = (b"POST " + (self.path_prefix + path).encode() + b" HTTP/1.1\r\n"
                                        + self._head_tail)
        data = b"%s%d\r\n\r\n%s" % (head, len(body), body)
        loop = asyncio.get_running_loop()
        gate = self._gate
        if not gate.take():
            await gate.wait()
        try:
            # one deadline for the whole exchange (connecting included); the response future is failed
            # when it passes (see _watch: one shared timer, not one per request)
            deadline = loop.time() + self.timeout
            for attempt in (0, 1):
                conn = self._pooled() or await self._connect(loop, deadline)
                fut = conn.send(data, loop)
                timer = self._watch(loop, deadline, fut)
                try:
                    status, headers, raw = await fut
                except HTTPError:
                    conn.closed = True
                    self._drop(conn)
                    if conn.reused and attempt == 0 and not conn._head:  # stale keep-alive: once more
                        continue
                    raise
                except BaseException:  # timeout or cancellation mid-exchange: the connection is dirty
                    conn.closed = True
                    self._drop(conn)
                    raise
                finally:
                    if timer is None:
                        self._pending.pop(fut, None)
                    else:
                        timer.cancel()
                self._release(conn)
                break
        finally:
            gate.leave()
        # a plain head's headers are still unread (_d None) and have no Content-Encoding (_plain_length)
        enc = None if headers._d is None else headers._d.get("content-encoding")
        if enc is not None:
            enc = enc.lower()
            if enc in ("gzip", "deflate"):
                raw = zlib.decompress(raw, 47 if enc == "gzip" else zlib.MAX_WBITS)
        return status, headers, raw

    def _watch(self, loop: asyncio.AbstractEventLoop, deadline: float, fut: asyncio.Future
               ) -> asyncio.TimerHandle | None:
        """Fail `fut` with TimeoutError at `deadline`. Every exchange has the same timeout, so the
        exchanges in flight, kept in the order they started, are also in deadline order: one timer,
        set for the oldest, serves them all (a timer per request cost more than parsing its response).
        An exchange out of that order (the resend after a stale keep-alive) gets a timer of its own,
        which is returned (None: the shared timer watches it; done with it, the caller drops it from
        `_pending`)."""
        if loop is not self._loop:  # first use, or another event loop: the old loop's timer is gone
            self._loop, self._pending, self._timer = loop, {}, None
        pending = self._pending
        if pending and deadline < self._last:
            return loop.call_at(deadline, _expire, fut, self.timeout)
        pending[fut] = self._last = deadline
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._sweep)
        return None

    def _sweep(self) -> None:
        """The shared timer: fail the exchanges whose deadline has passed, then wait for the next."""
        self._timer = None
        loop, pending = self._loop, self._pending
        if loop is None:
            return
        now = loop.time() + 0.001  # timers fire on the loop's clock, rounded to the millisecond
        while pending:
            fut = next(iter(pending))
            deadline = pending[fut]
            if deadline > now:
                self._timer = loop.call_at(deadline, self._sweep)
                return
            del pending[fut]
            _expire(fut, self.timeout)

    def _pooled(self) -> _Conn | None:
        """An idle keep-alive connection, or None."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                conn.reused = True
                return conn
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Conn:
        async with asyncio.timeout_at(deadline):
            _, conn = await loop.create_connection(_Conn, self.host, self.port, ssl=self.ssl,
                                                   server_hostname=self.host if self.ssl else None)
        return conn

    def _release(self, conn: _Conn) -> None:
        conn.waiter = None
        if conn.closed or conn.buf:  # unexpected extra bytes: do not reuse
            self._drop(conn)
        else:
            self._idle.append(conn)

    @staticmethod
    def _drop(conn: _Conn) -> None:
        if conn.transport is not None:
            conn.transport.close()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        idle, self._idle = self._idle, []
        for conn in idle:
            self._drop(conn)
