"""Kept-alive HTTP/1.1 connections for the sends: a bounded pool, nothing else.

The senders' requests are all alike: a small form POSTed to one host, a small JSON
answer read back, hundreds in flight. aiohttp serves them correctly but spends about
0.12 ms of CPU on each (request and response objects, tracing signals, cookie jar,
URL building, stream readers); a protocol that writes the request in one piece and
hands the bytes to httptools' parser spends about 0.04 ms, measured side by side
against the sandbox with 200 in flight. At two to three thousand sends a second that
is a fifth of a core, so this module exists; it does only what the sends need:

- one connection per request in flight, at most ``limit`` in all, kept alive and
  reused (most recently used first) until the server closes it or it has been idle
  for ``keepalive_s``;
- plain HTTP and TLS (the system's trust store, the host's name checked);
- answers framed by Content-Length, chunked encoding or the end of the connection,
  parsed by httptools (the same parser the api's uvicorn uses);
- no proxies, redirects, compression or cookies: Twilio's API needs none of them.

A connection that fails, or whose request is cancelled (a timeout) before its answer
is complete, is closed, never reused. A request that could not be answered raises an
``OSError``: ``ConnectionRefusedError`` and the like when it could not connect, or
``ConnectionLost`` when the connection ended before the whole answer came.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

# Twilio's answers are a few KiB; anything far larger is not an answer to a send.
MAX_ANSWER_BYTES = 8 * 1024 * 1024


class ConnectionLost(ConnectionError):
    """The connection ended, or the answer could not be parsed, before it was whole."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Origin:
    secure: bool
    host: str
    port: int
    host_header: str


@lru_cache(maxsize=64)
def _target(url: str) -> tuple[_Origin, str]:
    """Where ``url`` goes and what goes on its request line; the senders use a handful
    of URLs, so each is split once."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == (443 if secure else 80) else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Origin(secure, host, port, host_header), path


def _header_lines(headers: dict[str, str]) -> str:
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"header {name!r} cannot be sent as given")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, its answer parsed as it comes."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._reset()

    # Protocol callbacks.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # nothing was asked: not a server to keep talking to
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionLost(f"unreadable HTTP answer: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            # An answer without Content-Length or chunks ends with the connection (at
            # the peer's end of file the transport closes, as asyncio's default does).
            if exc is None and self._headers_done and not self._framed():
                self._complete()
                return
            self._answer.set_exception(ConnectionLost(f"connection closed: {exc or 'by peer'}"))

    # Parser callbacks.
    def on_header(self, name: bytes, value: bytes) -> None:
        # httptools gathers a header's pieces across reads and calls this once with each.
        self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        # Read here: once the message is complete the parser has moved on to the next.
        self._keep_alive = self._parser.should_keep_alive()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_ANSWER_BYTES:
            self._fail(ConnectionLost(f"answer larger than {MAX_ANSWER_BYTES} bytes"))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete()

    # Used by the pool.
    async def exchange(self, request: bytes) -> tuple[Answer, bool]:
        """The answer to ``request``, and whether the connection may be used again."""
        assert self._transport is not None and self._answer is None
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        answer = await self._answer
        reusable = not self.closed and self._keep_alive
        self._reset()
        return answer, reusable

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _framed(self) -> bool:
        return "content-length" in self._headers or "transfer-encoding" in self._headers

    def _complete(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(
                Answer(
                    self._parser.get_status_code(),
                    CIMultiDictProxy(self._headers),
                    b"".join(self._body),
                )
            )

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()

    def _reset(self) -> None:
        """Ready for the next request (the parser carries on from the last answer)."""
        self._answer: asyncio.Future[Answer] | None = None
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._body: list[bytes] = []
        self._size = 0
        self._keep_alive = False
        self._headers_done = False


class ConnectionPool:
    """At most ``limit`` connections, each carrying one request at a time; idle ones are
    reused, the most recently used first, and dropped after ``keepalive_s``."""

    def __init__(
        self, *, limit: int, keepalive_s: float = 30.0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._slots = asyncio.Semaphore(limit)
        self._keepalive_s = keepalive_s
        self._ssl_context = ssl_context
        self._idle: dict[_Origin, deque[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._closed = False

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> Answer:
        origin, path = _target(url)
        head = f"{method} {path} HTTP/1.1\r\nHost: {origin.host_header}\r\n"
        head += _header_lines(headers)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(body or b'')}\r\n"
        request = (head + "\r\n").encode("latin-1") + (body or b"")
        async with self._slots:
            if self._closed:
                raise RuntimeError("the connection pool is closed")
            connection = self._idle_connection(origin) or await self._connect(origin)
            self._busy.add(connection)
            reusable = False
            try:
                answer, reusable = await connection.exchange(request)
            finally:
                self._busy.discard(connection)
                if reusable and not self._closed:
                    connection.idle_since = time.monotonic()
                    self._idle.setdefault(origin, deque()).append(connection)
                else:
                    connection.close()
        return answer

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.close()

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        oldest_usable = time.monotonic() - self._keepalive_s
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.idle_since >= oldest_usable:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        if origin.secure:
            context = self._ssl_context or _default_ssl_context()
            _, connection = await loop.create_connection(
                _Connection, origin.host, origin.port, ssl=context, server_hostname=origin.host
            )
        else:
            _, connection = await loop.create_connection(_Connection, origin.host, origin.port)
        return connection


@lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()
