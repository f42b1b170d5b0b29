"""Redis client and key naming. Every key the system writes starts with the prefix."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from shared.settings import Settings

# How callers wait for a connection, and how long a connection may take to answer.
_POOL_OPTIONS: dict[str, Any] = {
    "timeout": 10,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "health_check_interval": 15,
}


class SentinelBlockingConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """Connections to the primary the Sentinels name, and callers wait for a free one.

    The MRO puts SentinelConnectionPool (the primary's address, reconnecting after a
    failover) before BlockingConnectionPool (get_connection waits rather than raising
    MaxConnectionsError), both over ConnectionPool.
    """


class _SentinelRedis(Redis):
    """Closes the Sentinel clients too: ``master_for`` leaves them to the caller."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        pool = self.connection_pool
        await super().aclose(close_connection_pool)
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def make_redis(settings: Settings) -> Redis:
    """A client whose callers wait for a free connection rather than fail.

    Hundreds of concurrent sends each touch Redis; a plain pool raises
    MaxConnectionsError when they outnumber its connections. With REDIS_SENTINELS the
    client asks the Sentinels for the primary, and again after a failover.
    """
    if not settings.redis_sentinels:
        pool = BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=settings.redis_max_connections, **_POOL_OPTIONS
        )
        return Redis(connection_pool=pool)
    url = urlparse(settings.redis_url)
    sentinel = Sentinel(
        settings.redis_sentinel_addresses,
        sentinel_kwargs={"socket_connect_timeout": 2, "socket_timeout": 2},
    )
    return sentinel.master_for(
        settings.redis_sentinel_master,
        redis_class=_SentinelRedis,
        connection_pool_class=SentinelBlockingConnectionPool,
        max_connections=settings.redis_max_connections,
        db=int(url.path.strip("/") or 0),
        username=url.username,
        password=url.password,
        **_POOL_OPTIONS,
    )


class ReplicasBehind(RedisConnectionError):
    """Fewer replicas than required acknowledged a write in time: a failover now could
    lose it, so it counts as Redis being away (shared/outages.py)."""


@dataclass(frozen=True, slots=True)
class ReplicaAcks:
    """WAIT after writes that must survive a failover: ``replicas`` (0: no wait) within
    ``timeout_ms``. WAIT counts the writes of its own connection, so it goes in the same
    pipeline as they do."""

    replicas: int = 0
    timeout_ms: int = 500

    @classmethod
    def of(cls, settings: Settings) -> ReplicaAcks:
        return cls(settings.redis_min_replicas_acked, settings.redis_wait_timeout_ms)

    def queue_wait(self, pipe: Pipeline) -> bool:
        """Queue the WAIT (when one is asked for) as the pipeline's last command."""
        if self.replicas > 0:
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
        return self.replicas > 0

    def check(self, acknowledged: int) -> None:
        if acknowledged < self.replicas:
            raise ReplicasBehind(
                f"{acknowledged} of {self.replicas} replica(s) acknowledged within"
                f" {self.timeout_ms} ms"
            )


class Keys:
    """Builds the system's Redis keys under one prefix, so tests and tenants never meet."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: str | int) -> str:
        return self.prefix + ":".join(str(part) for part in parts)


async def redis_reachable(redis: Redis, timeout_s: float = 2.0) -> bool:
    try:
        return bool(await asyncio.wait_for(redis.ping(), timeout_s))
    except (TimeoutError, RedisError, OSError):
        return False
