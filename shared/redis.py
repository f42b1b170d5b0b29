"""Redis client and key naming. Every key the system writes starts with the prefix."""

from __future__ import annotations

import asyncio

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from shared.settings import Settings


def make_redis(settings: Settings) -> Redis:
    """A client whose callers wait for a free connection rather than fail.

    Hundreds of concurrent sends each touch Redis; a plain pool raises
    MaxConnectionsError when they outnumber its connections.
    """
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=10,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
    )
    return Redis(connection_pool=pool)


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
