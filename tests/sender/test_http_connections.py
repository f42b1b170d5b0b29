"""The senders' kept-alive connections against real sockets: a small HTTP server in the
test answers the way each case needs (chunks, a close mid-answer, bytes one at a
time, TLS), and counts the connections it was given."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from services.sender import http_connections
from services.sender.http_connections import ConnectionLost, ConnectionPool
from tests.helpers import eventually

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nRetry-After: 3\r\n\r\nok"
# Reads one request (headers, then its Content-Length of body) and answers it.
Answering = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    port: int
    accepted: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[bytes] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def url(self, path: str = "/x", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answering, ssl_context: ssl.SSLContext | None = None) -> Server:
        state = Server(port=0)

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
            state.accepted += 1
            state.open_now += 1
            state.most_open = max(state.most_open, state.open_now)
            state.writers.append(writer)
            try:
                while (request := await _read_request(reader)) is not None:
                    state.requests.append(request)
                    await answer(request, writer)
                    if writer.is_closing():
                        break
            finally:
                state.open_now -= 1
                writer.close()

        server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=ssl_context)
        servers.append(server)
        state.port = server.sockets[0].getsockname()[1]
        return state

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest_asyncio.fixture
async def pools() -> AsyncIterator[Callable[..., ConnectionPool]]:
    """Pools closed after the test, whatever it did."""
    made: list[ConnectionPool] = []

    def make(**options) -> ConnectionPool:
        made.append(ConnectionPool(**{"limit": 1, **options}))
        return made[-1]

    yield make
    for pool in made:
        await pool.close()


def replying(answer: bytes, *, then_close: bool = False) -> Answering:
    """A server's answer to every request: these bytes, then the close if asked."""

    async def reply(_request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(answer)
        await writer.drain()
        if then_close:
            writer.close()

    return reply


answer_ok = replying(OK)


async def test_connections_are_kept_alive_and_bounded(serve, pools) -> None:
    async def slow_ok(request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.01)  # holds the connection, so that requests overlap
        await answer_ok(request, writer)

    server = await serve(slow_ok)
    pool = pools(limit=3)
    for _ in range(20):
        assert (await pool.request("GET", server.url(), {})).body == b"ok"
    assert server.accepted == 1  # one connection for twenty requests in a row
    answers = await asyncio.gather(*(pool.request("GET", server.url(), {}) for _ in range(30)))
    assert [answer.status for answer in answers] == [200] * 30
    assert server.most_open == 3
    assert server.accepted == 3


async def test_the_request_goes_out_as_given(serve, pools) -> None:
    server = await serve(answer_ok)
    pool = pools()
    answer = await pool.request(
        "POST", server.url("/a/b.json?x=1"), {"Authorization": "Basic eg=="}, b"To=%2B34"
    )
    assert answer.headers["retry-after"] == "3"  # any case
    assert server.requests == [
        b"POST /a/b.json?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Basic eg==\r\n"
        b"Content-Length: 8\r\n\r\nTo=%%2B34" % server.port
    ]


async def test_a_header_that_would_split_the_request_is_refused(serve, pools) -> None:
    server = await serve(answer_ok)
    pool = pools()
    with pytest.raises(ValueError, match="X-Note"):
        await pool.request("GET", server.url(), {"X-Note": "a\r\nInjected: yes"})
    assert server.requests == []


async def test_chunked_answers_read_a_byte_at_a_time_arrive_whole(serve, pools) -> None:
    answer = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-Long-Header: "
        + b"v" * 300
        + b"\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )

    async def dribble(_request: bytes, writer: asyncio.StreamWriter) -> None:
        for index in range(len(answer)):
            writer.write(answer[index : index + 1])
            await writer.drain()

    server = await serve(dribble)
    pool = pools()
    first = await pool.request("GET", server.url(), {})
    second = await pool.request("GET", server.url(), {})
    assert (first.status, first.body) == (201, b"hello world")
    assert first.headers["X-Long-Header"] == "v" * 300
    assert second.body == b"hello world"
    assert server.accepted == 1


async def test_an_answer_ended_by_the_close_is_read_and_not_reused(serve, pools) -> None:
    server = await serve(replying(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", then_close=True))
    pool = pools()
    assert (await pool.request("GET", server.url(), {})).body == b"until the end"
    assert (await pool.request("GET", server.url(), {})).body == b"until the end"
    assert server.accepted == 2


async def test_connection_close_is_honoured(serve, pools) -> None:
    server = await serve(
        replying(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    )
    pool = pools()
    for _ in range(3):
        assert (await pool.request("GET", server.url(), {})).body == b"ok"
    assert server.accepted == 3


async def test_a_close_mid_answer_raises_and_the_next_gets_a_new_connection(serve, pools) -> None:
    calls = 0

    async def cut_first(request: bytes, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
            await writer.drain()
            writer.close()
        else:
            await answer_ok(request, writer)

    server = await serve(cut_first)
    pool = pools()
    with pytest.raises(ConnectionLost):
        await pool.request("POST", server.url(), {}, b"x")
    assert (await pool.request("POST", server.url(), {}, b"x")).body == b"ok"
    assert server.accepted == 2


async def test_a_close_inside_the_headers_is_not_taken_for_an_answer(serve, pools) -> None:
    server = await serve(replying(b"HTTP/1.1 200 OK\r\nX-Half: 1\r\n", then_close=True))
    pool = pools()
    with pytest.raises(ConnectionLost):
        await pool.request("GET", server.url(), {})


async def test_an_unreadable_answer_raises_an_os_error(serve, pools) -> None:
    server = await serve(replying(b"SMTP ready\r\n\r\n"))
    pool = pools()
    with pytest.raises(OSError, match="unreadable"):
        await pool.request("GET", server.url(), {})


async def test_an_answer_over_the_size_bound_is_refused(serve, monkeypatch, pools) -> None:
    monkeypatch.setattr(http_connections, "MAX_ANSWER_BYTES", 1_000)

    server = await serve(replying(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000))
    pool = pools()
    with pytest.raises(ConnectionLost, match="larger than 1000"):
        await pool.request("GET", server.url(), {})


async def test_a_request_cancelled_mid_answer_closes_its_connection(serve, pools) -> None:
    held = asyncio.Event()

    async def stall_first(request: bytes, writer: asyncio.StreamWriter) -> None:
        if not held.is_set():
            held.set()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhal")
            await writer.drain()
            return  # the rest never comes
        await answer_ok(request, writer)

    server = await serve(stall_first)
    pool = pools()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await pool.request("GET", server.url(), {})
    # The half-read connection is gone: its late bytes cannot become the next answer.
    await eventually(
        lambda: _true(server.open_now == 0), timeout_s=5, what="stalled connection closed"
    )
    assert (await pool.request("GET", server.url(), {})).body == b"ok"
    assert server.accepted == 2


async def test_an_idle_connection_the_server_closed_is_not_used(serve, pools) -> None:
    server = await serve(answer_ok)
    pool = pools()
    await pool.request("GET", server.url(), {})
    for writer in server.writers:
        writer.close()
    await eventually(
        lambda: _true(all(c.closed for idle in pool._idle.values() for c in idle)),
        timeout_s=5,
        what="the client saw the server close its idle connection",
    )
    assert (await pool.request("GET", server.url(), {})).body == b"ok"
    assert server.accepted == 2


async def test_a_connection_idle_longer_than_keepalive_is_replaced(serve, pools) -> None:
    server = await serve(answer_ok)
    pool = pools(limit=1, keepalive_s=0.0)
    await pool.request("GET", server.url(), {})
    await pool.request("GET", server.url(), {})
    assert server.accepted == 2


async def test_nothing_listening_raises_an_os_error(serve, pools) -> None:
    server = await serve(answer_ok)
    port = server.port
    pool = pools()
    with pytest.raises(OSError):
        await pool.request("GET", f"http://127.0.0.1:{_closed_port()}/x", {})
    assert (await pool.request("GET", f"http://127.0.0.1:{port}/x", {})).status == 200


async def test_tls_checks_the_servers_certificate_and_name(serve, tmp_path: Path, pools) -> None:
    certificate, key = _self_signed(tmp_path, "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(certificate, key)
    server = await serve(answer_ok, ssl_context=server_context)
    trusting = ssl.create_default_context(cafile=str(certificate))
    pool = pools(ssl_context=trusting)
    untrusting = pools()  # the system's trust store
    answer = await pool.request("GET", server.url(scheme="https", host="localhost"), {})
    assert answer.body == b"ok"
    with pytest.raises(ssl.SSLCertVerificationError):
        await untrusting.request("GET", server.url(scheme="https", host="localhost"), {})
    with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
        await pool.request("GET", server.url(scheme="https", host="127.0.0.1"), {})


async def _true(value: bool) -> bool:
    return value


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate with")
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )  # fmt: skip
    return certificate, key
