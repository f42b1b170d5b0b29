"""Redis for the local stack: the one at REDIS_URL when it answers, else our own."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, TypeVar
from urllib.parse import urlparse

from devstack.debian import ensure_package
from devstack.processes import (
    ProcessTable,
    StartError,
    Tracked,
    await_ready,
    is_running,
    port_open,
    wait_for,
)

T = TypeVar("T")


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
    table: ProcessTable,
    port: int,
    timeout_s: float = 20,
    *,
    durable: bool = False,
    name: str = "redis",
    replica_of: int | None = None,
) -> Tracked:
    """Start redis-server; ``durable`` keeps an append-only file, as production Redis
    should, so that a restart loses nothing (the fault suite restarts it). With
    ``replica_of`` it replicates the primary on that port."""
    if port_open("127.0.0.1", port):
        raise StartError(f"port {port} is taken; cannot start Redis there")
    data_dir = table.run_dir / name
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
    if replica_of is not None:
        argv += ["--replicaof", "127.0.0.1", str(replica_of)]
    tracked = table.start(name, argv, env={"PATH": "/usr/bin:/bin"})
    url = f"redis://127.0.0.1:{port}/0"
    await_ready(tracked, lambda: redis_answers(url), timeout_s, "Redis")
    return tracked


SENTINEL_MASTER = "cq"
SENTINEL_NAMES = ("redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3")
REPLICA_NAME = "redis-replica"
# Short for local use: a dead primary is replaced within about five seconds. Not
# shorter: at 1 s, a loaded machine once had every Sentinel count the replica they had
# just promoted as down before their links to it were up, and fail over again, to the
# killed primary restarted a moment before and still syncing.
DOWN_AFTER_MS = 3000
FAILOVER_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class SentinelGroup:
    """A primary, its replica and three Sentinels watching them under ``master``."""

    primary_port: int
    replica_port: int
    sentinel_ports: tuple[int, ...]
    master: str = SENTINEL_MASTER

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS: host:port of every Sentinel, comma-separated."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    @property
    def primary_url(self) -> str:
        """The master's URL now (the first primary's while the Sentinels do not answer)."""
        return f"redis://127.0.0.1:{self.master_port() or self.primary_port}/0"

    def master_port(self) -> int | None:
        """The port all Sentinels agree is the master's now, or None."""
        ports = {_sentinel_master_port(port, self.master) for port in self.sentinel_ports}
        return ports.pop() if len(ports) == 1 else None

    def live_master_port(self) -> int | None:
        """The agreed master's port once it answers (after a failover: the new one)."""
        port = self.master_port()
        return port if port and redis_answers(f"redis://127.0.0.1:{port}/0") else None


def start_redis_sentinel_group(
    table: ProcessTable,
    primary_port: int,
    replica_port: int,
    sentinel_ports: tuple[int, ...],
    timeout_s: float = 30,
) -> SentinelGroup:
    """Primary and replica (both with an append-only file), then three Sentinels with a
    quorum of two; returns once the Sentinels agree on the primary, know each other and
    the replica, and the replica is in sync."""
    group = SentinelGroup(primary_port, replica_port, tuple(sentinel_ports))
    # After a failover the replica's data is the newer: it must lead again, or it would
    # resynchronise from the old primary's file and lose what it took after the failover.
    lead = replica_port if _remembered_master(table) == replica_port else primary_port
    ordered = [("redis", primary_port), (REPLICA_NAME, replica_port)]
    for name, port in sorted(ordered, key=lambda named: named[1] != lead):
        follower = start_redis(
            table, port, durable=True, name=name, replica_of=None if port == lead else lead
        )
    await_ready(follower, lambda: _replica_online(lead), timeout_s, "Redis replica in sync")
    sentinels = [
        _start_sentinel(table, name, port, lead)
        for name, port in zip(SENTINEL_NAMES, sentinel_ports, strict=True)
    ]
    for sentinel in sentinels:
        await_ready(sentinel, lambda: _group_settled(group), timeout_s, "Redis Sentinels")
    return group


def restart_lost_redis(table: ProcessTable, group: SentinelGroup, timeout_s: float = 30) -> None:
    """Start the group's Redis servers that are not running (a primary killed in a
    failover) again, as replicas of the current master; returns once the master has
    them in sync and every Sentinel counts them able to take over."""
    master = wait_for_value(group.live_master_port, timeout_s, "a master the Sentinels agree on")
    for name, port in (("redis", group.primary_port), (REPLICA_NAME, group.replica_port)):
        tracked = table.get(name)
        if port != master and not (tracked and is_running(tracked)):
            restarted = start_redis(table, port, durable=True, name=name, replica_of=master)
            await_ready(
                restarted,
                lambda port=port: _replica_online(master) and _sentinels_see_replica(group, port),
                timeout_s,
                "Redis replica back in sync",
            )


def _sentinels_see_replica(group: SentinelGroup, port: int) -> bool:
    for sentinel_port in group.sentinel_ports:
        replicas = _ask(sentinel_port, "SENTINEL", "REPLICAS", group.master)
        states = [_pairs(r) for r in replicas] if isinstance(replicas, list) else []
        if not any(
            r.get("port") == str(port)
            and "down" not in r.get("flags", "down")
            and r.get("master-link-status") == "ok"
            for r in states
        ):
            return False
    return True


def wait_for_value(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    found: list[T] = []

    def answered() -> bool:
        value = probe()
        if value is not None:
            found.append(value)
        return value is not None

    if not wait_for(answered, timeout_s):
        raise StartError(f"no answer within {timeout_s:.0f} s: {what}")
    return found[-1]


def _remembered_master(table: ProcessTable) -> int | None:
    """The master's port the Sentinels last wrote to their config, if any."""
    config = table.run_dir / SENTINEL_NAMES[0] / "sentinel.conf"
    if not config.exists():
        return None
    for line in config.read_text().splitlines():
        if line.startswith(f"sentinel monitor {SENTINEL_MASTER} "):
            return int(line.split()[4])
    return None


def _start_sentinel(table: ProcessTable, name: str, port: int, primary_port: int) -> Tracked:
    if port_open("127.0.0.1", port):
        raise StartError(f"port {port} is taken; cannot start a Redis Sentinel there")
    folder = table.run_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    # Sentinels rewrite their config file with what they learn: each needs its own.
    config = folder / "sentinel.conf"
    config.write_text(
        f"bind 127.0.0.1\nport {port}\ndaemonize no\ndir {folder}\n"
        f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {primary_port} 2\n"
        f"sentinel down-after-milliseconds {SENTINEL_MASTER} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {SENTINEL_MASTER} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {SENTINEL_MASTER} 1\n"
    )
    argv = [redis_server_binary(), str(config), "--sentinel"]
    return table.start(name, argv, env={"PATH": "/usr/bin:/bin"})


def _group_settled(group: SentinelGroup) -> bool:
    if group.master_port() is None:
        return False
    for port in group.sentinel_ports:
        state = _ask(port, "SENTINEL", "MASTER", group.master)
        fields = _pairs(state)
        if fields.get("num-other-sentinels") != str(len(group.sentinel_ports) - 1):
            return False
        if fields.get("num-slaves") != "1" or "down" in fields.get("flags", "down"):
            return False
    return True


def _replica_online(primary_port: int) -> bool:
    info = _ask(primary_port, "INFO", "replication")
    return isinstance(info, str) and "state=online" in info


def _sentinel_master_port(sentinel_port: int, master: str) -> int | None:
    answer = _ask(sentinel_port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", master)
    if isinstance(answer, list) and len(answer) == 2 and isinstance(answer[1], str):
        return int(answer[1])
    return None


def _pairs(answer: object) -> dict[str, str]:
    if not isinstance(answer, list):
        return {}
    return {str(k): str(v) for k, v in zip(answer[::2], answer[1::2], strict=False)}


def _ask(port: int, *command: str) -> object:
    """One command's answer, or None when the server does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(_command(*command))
            return _read_reply(sock.makefile("rb"))
    except (OSError, ValueError):
        return None


def _read_reply(stream: BinaryIO) -> object:
    """A RESP2 reply: simple strings, errors (as None), integers, bulk strings, arrays."""
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        length = int(rest)
        return None if length < 0 else stream.read(length + 2)[:-2].decode()
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_read_reply(stream) for _ in range(count)]
    return None
