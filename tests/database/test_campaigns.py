"""Campaign definitions and statuses (shared/store/campaigns.py): the row in PostgreSQL,
its atomic moves and their history, and the Redis copy of the status that the senders
read, which only a newer status replaces and which is written again when lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
from redis.asyncio import Redis

from services.api.redis_moves import move_campaigns_from_redis
from shared.events.models import SendWindow, TemplateContent, TextContent
from shared.lifecycle import NOT_STARTED, QUEUED, move
from shared.redis import Keys
from shared.store.campaign_status import StatusCache
from shared.store.campaigns import CampaignRecord, CampaignStore

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _store(database: asyncpg.Pool, redis: Redis, prefix: str) -> CampaignStore:
    return CampaignStore(database, redis, Keys(prefix))


def _draft(campaign_id: str, owner: str = "alice", created: datetime = NOW) -> CampaignRecord:
    return CampaignRecord(
        id=campaign_id,
        owner_id=owner,
        name=f"name of {campaign_id}",
        content=TextContent(body="Hola {{name}}"),
        total=3,
        created_at=created,
    )


async def test_a_campaign_reads_back_as_it_was_created(database, redis, unique_prefix) -> None:
    store = _store(database, redis, unique_prefix)
    record = CampaignRecord(
        id="full",
        owner_id="alice",
        name="Black Friday",
        status="scheduled",
        priority="high",
        content=TemplateContent(content_sid="HX" + "ab" * 16, content_variables={"1": "x"}),
        from_number="+34600000001",
        messaging_service_sid="MG" + "1" * 32,
        send_window=SendWindow(start="09:00", end="21:00", timezone="Europe/Madrid"),
        total=12,
        created_at=NOW,
        scheduled_at=NOW + timedelta(hours=1),
        expires_at=NOW + timedelta(days=1),
    )
    assert await store.create(record)
    assert await store.get("full") == record
    # A second create of one id changes nothing: a redelivered start must not reset it.
    assert not await store.create(record.model_copy(update={"name": "other", "status": "draft"}))
    assert await store.get("full") == record
    assert await store.get_many(["nope", "full"]) == [None, record]
    assert await store.get("nope") is None


async def test_of_concurrent_moves_one_wins_and_each_change_is_logged(
    database, redis, unique_prefix
) -> None:
    store = _store(database, redis, unique_prefix)
    await store.create(_draft("race"))
    results = await asyncio.gather(
        *(move(store, "race", NOT_STARTED, QUEUED, job_id=f"job-{i}") for i in range(8))
    )
    assert sorted(moved for moved, _ in results) == [False] * 7 + [True]
    assert {found for _, found in results} == {"draft", "queued"}
    record = await store.get("race")
    assert record is not None and record.status == "queued" and record.job_id is not None
    assert await move(store, "race", (QUEUED,), "sending", started_at=NOW.isoformat(), total="7")
    assert await move(store, "race", ("sending",), "stopped", finished_at="", job_id="")
    record = await store.get("race")
    assert record is not None
    assert (record.started_at, record.total, record.job_id) == (NOW, 7, None)

    history = await store.history("race")
    assert [(h.version, h.previous, h.status) for h in history] == [
        (1, None, "draft"),
        (2, "draft", "queued"),
        (3, "queued", "sending"),
        (4, "sending", "stopped"),
    ]
    assert await redis.get(StatusCache(redis, Keys(unique_prefix)).key("race")) == b"4:stopped"
    assert await move(store, "missing", NOT_STARTED, QUEUED) == (False, None)


async def test_the_status_copy_is_only_replaced_by_a_newer_one(redis, unique_prefix) -> None:
    cache = StatusCache(redis, Keys(unique_prefix))
    await cache.write("c1", 5, "paused")
    await cache.write("c1", 4, "sending")  # written late by a slower writer
    assert await cache.read("c1") == "paused"
    await cache.write("c1", 6, "stopped")
    assert await cache.read("c1") == "stopped"
    assert 0 < await redis.ttl(cache.key("c1"))  # a final status is kept a while, not for ever
    assert await redis.ttl(cache.key("other")) == -2
    await cache.write("other", 1, "sending")
    assert await redis.ttl(cache.key("other")) == -1


async def test_a_lost_or_stale_copy_is_written_again_from_the_row(
    database, redis, unique_prefix
) -> None:
    store = _store(database, redis, unique_prefix)
    cache = StatusCache(redis, Keys(unique_prefix))
    await store.create(_draft("lost"))
    await store.create(_draft("stale"))
    await store.mark_active("stale")
    await move(store, "stale", NOT_STARTED, QUEUED)
    await move(store, "stale", (QUEUED,), "paused")
    # As a replica promoted before it had the last writes would have them.
    await redis.delete(cache.key("lost"))
    await redis.set(cache.key("stale"), "2:queued")

    assert await store.status("lost") == "draft"
    assert await redis.get(cache.key("lost")) == b"1:draft"
    await store.refresh_status_copies([])  # the active ones
    assert await cache.read("stale") == "paused"
    assert await store.status("nope") is None


async def test_owners_lists_schedules_and_the_active_set(database, redis, unique_prefix) -> None:
    store = _store(database, redis, unique_prefix)
    for i in range(5):
        await store.create(_draft(f"a{i}", created=NOW + timedelta(minutes=i)))
    await store.create(_draft("b0", owner="bob"))
    records, total = await store.list_for_owner("alice", 1, 2)
    assert ([r.id for r in records], total) == (["a3", "a2"], 5)
    assert [(r.id, active) for r, active in await store.owned_or_active("bob")] == [("b0", False)]

    await store.schedule("a1", NOW + timedelta(minutes=1))
    await store.schedule("a0", NOW - timedelta(minutes=1))
    assert await store.due_schedules(NOW) == ["a0"]
    assert await store.due_schedules(NOW + timedelta(hours=1)) == ["a0", "a1"]
    assert await store.unschedule("a0")
    assert not await store.unschedule("a0")  # only one caller removes it
    assert await store.active_ids() == ["a0", "a1"]
    await store.mark_inactive("a0")
    assert await store.active_ids() == ["a1"]
    assert {r.id for r, active in await store.owned_or_active("bob") if active} == {"a1"}
    assert [await store.next_retry_number("a1") for _ in range(2)] == [1, 2]


async def test_campaigns_kept_in_redis_move_here_once(database, redis, unique_prefix) -> None:
    keys = Keys(unique_prefix)
    store = _store(database, redis, unique_prefix)
    # As earlier versions wrote them: a hash of text fields ('' for none) and its indexes.
    await redis.hset(
        keys("campaign", "old"),
        mapping={
            "id": "old",
            "owner_id": "alice",
            "name": "Old one",
            "status": "scheduled",
            "priority": "normal",
            "content": orjson.dumps({"kind": "text", "body": "hi"}),
            "send_window": "",
            "total": "2",
            "job_id": "",
            "created_at": NOW.isoformat(),
            "scheduled_at": (NOW + timedelta(hours=1)).isoformat(),
            "finished_at": "",
            "retry_runs": "3",
        },
    )
    due_ms = (NOW + timedelta(hours=1)).timestamp() * 1000
    await redis.zadd(keys("schedules"), {"old": due_ms})
    await redis.sadd(keys("campaigns", "active"), "old")
    await redis.zadd(keys("campaigns", "owner", "alice"), {"old": NOW.timestamp() * 1000})
    # Another hash under a campaign: not a definition.
    await redis.hset(keys("campaign", "old", "positions", "contacts"), "c1", 0)

    assert await move_campaigns_from_redis(redis, keys, database, store) == 1
    record = await store.get("old")
    assert record is not None
    assert (record.status, record.total, record.job_id) == ("scheduled", 2, None)
    assert await store.active_ids() == ["old"]
    assert await store.due_schedules(NOW + timedelta(hours=2)) == ["old"]
    assert await store.next_retry_number("old") == 4
    left = sorted([k.decode() async for k in redis.scan_iter(match=f"{unique_prefix}*")])
    assert left == sorted(
        [
            keys("campaign", "old", "positions", "contacts"),
            StatusCache(redis, keys).key("old"),
        ]
    )
    assert await move_campaigns_from_redis(redis, keys, database, store) == 0
