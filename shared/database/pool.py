"""The services' connection pool (asyncpg; docs/architecture.md says why this driver)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from shared.settings import Settings


async def open_pool(settings: Settings) -> asyncpg.Pool:
    """A pool of ``DATABASE_POOL_SIZE`` connections at most. Statements are prepared and
    cached per connection, so a query's plan is made once per connection."""
    pool = await asyncpg.create_pool(
        dsn=settings.database_url,
        min_size=1,
        max_size=settings.database_pool_size,
        # A connection idle this long is closed: a quiet api keeps one, not ten.
        max_inactive_connection_lifetime=60,
        timeout=10,
    )
    assert pool is not None  # create_pool returns None only when not awaited
    return pool


async def database_reachable(pool: asyncpg.Pool) -> bool:
    try:
        return await pool.fetchval("SELECT 1", timeout=2) == 1
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False


# A store built before its service opens the pool holds a callable that returns it.
PoolSource = Callable[[], asyncpg.Pool]


def pool_source(pool: asyncpg.Pool | PoolSource) -> PoolSource:
    return pool if callable(pool) else lambda: pool
