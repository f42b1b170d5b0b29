"""Opt-outs (shared/store/suppressions.py): the record and its audit trail in
PostgreSQL, the copy the dispatcher asks in Redis, and the copy filled again from the
record when Redis lost it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
from redis.asyncio import Redis

from services.api.redis_moves import move_suppressions_from_redis
from shared.redis import Keys
from shared.store.suppressions import SuppressionCache, SuppressionStore

ACCOUNT = "AC" + "1" * 32
OTHER_ACCOUNT = "AC" + "2" * 32


def _store(database: asyncpg.Pool, redis: Redis, prefix: str, account: str = ACCOUNT):
    return SuppressionStore(database, SuppressionCache(redis, Keys(prefix), account), account)


async def test_add_remove_and_membership(database, redis, unique_prefix) -> None:
    store = _store(database, redis, unique_prefix)
    assert await store.add("+34611001000", "inbound_stop", actor="recipient")
    assert not await store.add("+34611001000", "api", actor="alice")  # keeps its reason
    assert await store.add("whatsapp:+34611001001", "error_21610")  # kept without the prefix

    among = await store.suppressed_among(["+34611001000", "+34611001001", "+34611009999"])
    assert among == {"+34611001000", "+34611001001"}
    assert await store.suppressed_among([]) == set()

    entry = await store.get("+34611001000")
    assert entry is not None and entry.reason == "inbound_stop"
    assert datetime.now(UTC) - entry.added_at < timedelta(minutes=1)

    refused = await store.remove("+34611001001", "alice", lifts=lambda r: r == "inbound_stop")
    assert (refused.reason, refused.removed) == ("error_21610", False)
    assert await store.suppressed_among(["+34611001001"]) == {"+34611001001"}

    assert (await store.remove("+34611001000", "root")).removed
    assert (await store.remove("+34611001000", "root")).reason is None
    assert await store.suppressed_among(["+34611001000"]) == set()
    assert await store.get("+34611001000") is None

    trail, total = await store.audit_page(0, 10)
    assert total == 3
    assert [(e.action, e.phone, e.reason, e.actor) for e in trail] == [
        ("removed", "+34611001000", "inbound_stop", "root"),
        ("added", "+34611001001", "error_21610", "twilio"),
        ("added", "+34611001000", "inbound_stop", "recipient"),
    ]


async def test_lists_are_per_account(database, redis, unique_prefix) -> None:
    await _store(database, redis, unique_prefix).add("+34611001000", "api", actor="alice")
    other = _store(database, redis, unique_prefix, OTHER_ACCOUNT)
    assert await other.suppressed_among(["+34611001000"]) == set()
    assert await other.page(0, 10) == ([], 0)
    assert await other.audit_page(0, 10) == ([], 0)


async def test_a_batch_of_opt_outs_is_written_once(database, redis, unique_prefix) -> None:
    store = _store(database, redis, unique_prefix)
    batch = [("whatsapp:+34611001000", "error_21610"), ("+34611001001", "error_21610")] * 2
    assert await store.add_many(batch, actor="twilio") == 2
    assert await store.add_many(batch, actor="twilio") == 0  # read again after a crash
    assert (await store.audit_page(0, 10))[1] == 2


async def test_a_redis_that_lost_the_copy_is_filled_from_the_record(
    database, redis, unique_prefix
) -> None:
    store = _store(database, redis, unique_prefix)
    await store.add("+34611001000", "inbound_stop", actor="recipient")
    # Redis restarted without its data: no copy, and no mark that it was filled.
    await redis.delete(*[key async for key in redis.scan_iter(match=f"{unique_prefix}*")])
    assert await store.suppressed_among(["+34611001000", "+34611001001"]) == {"+34611001000"}
    assert await redis.exists(Keys(unique_prefix)("suppressions", ACCOUNT, "loaded"))


async def test_opt_outs_kept_in_redis_by_earlier_versions_move_with_their_trail(
    database, redis, unique_prefix
) -> None:
    keys = Keys(unique_prefix)
    added_ms = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
    await redis.zadd(keys("suppressions", ACCOUNT), {"+34611001000": added_ms})
    await redis.hset(
        keys("suppressions", ACCOUNT, "details"),
        "+34611001000",
        orjson.dumps({"reason": "inbound_stop", "added_ms": added_ms}),
    )
    trail = [
        {"at_ms": added_ms, "action": "added", "phone": "+34611001000", "reason": "inbound_stop",
         "actor": "recipient"},
        {"at_ms": added_ms - 5, "action": "removed", "phone": "+34611001000", "reason": "api",
         "actor": "alice"},
    ]  # fmt: skip
    await redis.rpush(keys("suppressions", ACCOUNT, "audit"), *map(orjson.dumps, trail))

    assert await move_suppressions_from_redis(redis, keys, database, ACCOUNT) == 1
    assert await move_suppressions_from_redis(redis, keys, database, ACCOUNT) == 0
    store = _store(database, redis, unique_prefix)
    entry = await store.get("+34611001000")
    assert entry is not None and (entry.reason, entry.added_at.year) == ("inbound_stop", 2026)
    moved, total = await store.audit_page(0, 10)
    assert total == 2
    assert [(e.action, e.actor) for e in moved] == [("added", "recipient"), ("removed", "alice")]
    assert await store.suppressed_among(["+34611001000"]) == {"+34611001000"}
    assert not await redis.exists(keys("suppressions", ACCOUNT, "details"))
