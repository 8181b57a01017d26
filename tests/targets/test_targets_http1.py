"""The raw transport's HTTP/1.1 client (babelsafe.targets.http1) against a real loopback server that
answers with the shapes servers send: plain, chunked, gzip, Connection: close, HTTP/1.0 to EOF,
100 Continue, error statuses, a stale keep-alive connection, and no answer at all (timeouts)."""
from __future__ import annotations

import asyncio
import gzip
import time

import pytest

from babelsafe.targets import http1
from babelsafe.targets.http1 import HTTPError, JSONPoster

BODY = b'{"ok": true}'


def _head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode("latin-1")


# path -> what the server writes back (None: never answers)
ANSWERS: dict[str, bytes | None] = {
    "/plain": _head("200 OK", "Content-Type: application/json", f"Content-Length: {len(BODY)}",
                    "Retry-After: 7") + BODY,
    "/spaced": _head("200 OK", f"content-length :  {len(BODY)} ", "X-Note: a: b") + BODY,
    "/chunked": _head("200 OK", "Transfer-Encoding: chunked") + b"5\r\n" + BODY[:5] + b"\r\n"
                + f"{len(BODY) - 5:x}".encode() + b"\r\n" + BODY[5:] + b"\r\n0\r\n\r\n",
    "/gzip": _head("200 OK", "Content-Encoding: gzip", f"Content-Length: {len(gzip.compress(BODY))}")
             + gzip.compress(BODY),
    "/close": _head("200 OK", f"Content-Length: {len(BODY)}", "Connection: close") + BODY,
    "/continue": _head("100 Continue") + _head("200 OK", f"Content-Length: {len(BODY)}") + BODY,
    "/http10": b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY,
    "/429": _head("429 Too Many Requests", "Retry-After: 3", "Content-Length: 2") + b"{}",
    "/garbage": b"SPDY/9 what\r\n\r\n",
    "/silent": None,
    "/stale": _head("200 OK", f"Content-Length: {len(BODY)}") + BODY,  # closes on a 2nd request
}


class Server:
    """Reads one request head + body per exchange and writes the canned answer for its path."""

    def __init__(self) -> None:
        self.connections = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1].removeprefix("/v1")
                length = next(int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length"))
                await reader.readexactly(length)
                answer = ANSWERS[path]
                if path == "/stale" and served:  # a kept-alive connection the server has given up on
                    return
                served += 1
                if answer is None:
                    await asyncio.sleep(30)
                    return
                writer.write(answer)
                await writer.drain()
                if path in ("/close", "/http10", "/garbage"):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("path", ["/plain", "/spaced", "/chunked", "/gzip", "/close", "/continue", "/http10"])
def test_each_response_shape_gives_the_body(path):
    async def go():
        srv = Server()
        poster = JSONPoster(await srv.start(), {"Authorization": "Bearer x"}, timeout=5)
        try:
            for _ in range(3):  # a kept-alive connection is reused; a closed one is not
                status, headers, body = await poster.post(path, b"{}")
                assert (status, body) == (200, BODY)
        finally:
            await poster.close()
            srv.server.close()
        return srv.connections, headers

    connections, headers = run(go())
    assert connections == (3 if path in ("/close", "/http10") else 1)
    if path == "/plain":  # a plain answer's headers are parsed only when read, and then fully
        assert headers._d is None
        assert dict(headers) == {"content-type": "application/json", "content-length": str(len(BODY)),
                                 "retry-after": "7"}
        assert headers.get("retry-after") == "7" and "content-type" in headers
    if path == "/spaced":
        assert headers["content-length"] == str(len(BODY)) and headers["x-note"] == "a: b"


def test_error_status_keeps_its_headers_and_garbage_is_an_http_error():
    async def go():
        srv = Server()
        poster = JSONPoster(await srv.start(), {}, timeout=5)
        try:
            status, headers, body = await poster.post("/429", b"{}")
            assert (status, headers.get("retry-after"), body) == (429, "3", b"{}")
            with pytest.raises(HTTPError, match="unreadable HTTP response"):
                await poster.post("/garbage", b"{}")
        finally:
            await poster.close()
            srv.server.close()

    run(go())


def test_stale_keep_alive_is_sent_again_once():
    async def go():
        srv = Server()
        poster = JSONPoster(await srv.start(), {}, timeout=5)
        try:
            assert (await poster.post("/stale", b"{}"))[2] == BODY
            # the pooled connection is reused; the server closes it without answering: sent again
            assert (await poster.post("/stale", b"{}"))[2] == BODY
        finally:
            await poster.close()
            srv.server.close()
        return srv.connections

    assert run(go()) == 2


def test_every_exchange_times_out_at_its_own_deadline():
    """One shared timer: requests started at different times each fail at start + timeout, others
    in flight are not disturbed, and the poster works afterwards."""
    async def go():
        srv = Server()
        poster = JSONPoster(await srv.start(), {}, timeout=0.4)
        loop = asyncio.get_running_loop()

        async def one(path: str, delay: float) -> tuple[str, float]:
            await asyncio.sleep(delay)
            t0 = loop.time()
            try:
                await poster.post(path, b"{}")
                return "ok", loop.time() - t0
            except TimeoutError:
                return "timeout", loop.time() - t0

        try:
            results = await asyncio.gather(one("/silent", 0), one("/silent", 0.15), one("/plain", 0.1),
                                           one("/silent", 0.3))
            after = await one("/plain", 0)
        finally:
            await poster.close()
            srv.server.close()
        return results, after, poster

    t0 = time.monotonic()
    results, after, poster = run(go())
    assert [r[0] for r in results] == ["timeout", "timeout", "ok", "timeout"]
    for kind, took in results:
        if kind == "timeout":
            assert 0.39 <= took < 0.7, took
    assert after[0] == "ok" and not poster._pending
    assert time.monotonic() - t0 < 5


def test_plain_length_agrees_with_the_full_parse():
    heads = [
        "HTTP/1.1 200 OK\r\nContent-Length: 12", "HTTP/1.1 200 OK\r\ncontent-length:12\r\nServer: x",
        "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", "HTTP/1.0 200 OK\r\nContent-Length: 3",
        "HTTP/1.1 201 Created\r\nContent-Length: 3", "HTTP/1.1 200 OK\r\nContent-Length : 3",
        "HTTP/1.1 200 OK\r\nX-Content-Length: 9\r\nContent-Length: 3", "HTTP/1.1 200 OK",
        "HTTP/1.1 200 OK\r\nContent-Length: x", "http/1.1 200 OK\r\nContent-Length: 3",
    ]
    for head in heads:
        n = http1._plain_length(head)
        if n >= 0:  # the fast path may only answer where the full parse says exactly this
            fields = http1._fields(head.split("\r\n"))
            assert head.startswith("HTTP/1.1 200 ") and int(fields["content-length"]) == n
            assert not {"transfer-encoding", "connection", "content-encoding"} & set(fields)
    assert http1._plain_length(heads[0]) == 12 and http1._plain_length(heads[1]) == 12
    assert [http1._plain_length(h) for h in heads[2:]] == [-1] * (len(heads) - 2)
