"""The live sender replicas, from their heartbeats (services/sender/heartbeat.py),
and their circuit breakers, one by one and as one verdict."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.redis import Keys


async def live_breakers(redis: Redis, keys: Keys, heartbeat_timeout_s: float) -> dict[str, str]:
    """Replica id -> its breaker (closed, open, half_open) for replicas heard from lately."""
    try:
        beats = await redis.hgetall(heartbeats_key(keys))
    except (RedisError, OSError):
        return {}
    return alive_breakers(beats, heartbeat_timeout_s)


def heartbeats_key(keys: Keys) -> str:
    """The hash of the senders' heartbeats: replica id -> JSON {atMs, breaker}."""
    return keys("workers", "sender")


def alive_breakers(beats: dict[bytes, bytes], heartbeat_timeout_s: float) -> dict[str, str]:
    """:func:`live_breakers` from the heartbeats hash, read by the caller (in a pipeline)."""
    now_ms = datetime.now(UTC).timestamp() * 1000
    alive = {}
    for replica, value in beats.items():
        try:
            beat = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(beat, dict) and now_ms - beat.get("atMs", 0) <= heartbeat_timeout_s * 1000:
            alive[replica.decode()] = str(beat.get("breaker", "unknown"))
    return alive


def breaker_verdict(states: Iterable[str]) -> str:
    """One word for all replicas: open if any is open (its sends wait), then half_open,
    closed when all are closed, unknown with no live replica."""
    found = set(states)
    for state in ("open", "half_open"):
        if state in found:
            return state
    return "closed" if found == {"closed"} else "unknown"
