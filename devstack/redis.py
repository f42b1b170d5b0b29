"""Redis for the local stack: the one at REDIS_URL when it answers, else our own."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from devstack.debian import ensure_package
from devstack.processes import ProcessTable, StartError, Tracked, await_ready, port_open


def redis_answers(url: str) -> bool:
    """True when a Redis server at the URL answers PING (RESP, no client library needed)."""
    parsed = urlparse(url)
    if parsed.scheme != "redis" or not parsed.hostname:
        return False
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1) as sock:
            if parsed.password:
                user = parsed.username or "default"
                sock.sendall(_command("AUTH", user, parsed.password))
                if not sock.recv(64).startswith(b"+OK"):
                    return False
            sock.sendall(_command("PING"))
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _command(*parts: str) -> bytes:
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)


def redis_server_binary() -> str:
    """The redis-server binary, installing Debian's package when it is missing."""
    return ensure_package("redis-server", "redis-server")


def start_redis(
    table: ProcessTable, port: int, timeout_s: float = 20, *, durable: bool = False
) -> Tracked:
    """Start redis-server; ``durable`` keeps an append-only file, as production Redis
    should, so that a restart loses nothing (the fault suite restarts it)."""
    if port_open("127.0.0.1", port):
        raise StartError(f"port {port} is taken; cannot start Redis there")
    data_dir = table.run_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        # The local stack needs no snapshots; a durable one logs every write.
        "--save", "",
        "--appendonly", "yes" if durable else "no",
        "--appendfsync", "everysec",
        "--daemonize", "no",
    ]  # fmt: skip
    tracked = table.start("redis", argv, env={"PATH": "/usr/bin:/bin"})
    url = f"redis://127.0.0.1:{port}/0"
    await_ready(tracked, lambda: redis_answers(url), timeout_s, "Redis")
    return tracked
