"""Frozen audiences in PostgreSQL (shared/store/recipients.py): written once in send
order, read in pages by key, purged in bounded batches after their retention, and
moved from where earlier versions kept them in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from redis.asyncio import Redis

from services.api.contacts_store import ContactStore
from services.api.redis_moves import SCANNED_MOVES, move_records_from_redis
from shared.events.models import Recipient
from shared.redis import Keys
from shared.store.campaigns import CampaignStore
from shared.store.recipient_states import RECIPIENT_STATES, recipient_state
from shared.store.recipients import (
    AudienceExists,
    RecipientOutcome,
    RecipientReceipt,
    RecipientStore,
    move_audiences_from_redis,
)


def _people(count: int, start: int = 0) -> list[Recipient]:
    return [
        Recipient(
            contact_id=f"c{i}",
            phone=f"+3461200{i:04d}",
            name=None if i % 2 else f"n{i}",
            vars={"code": str(i)} if i % 3 == 0 else {},
        )
        for i in range(start, start + count)
    ]


async def test_an_audience_is_read_back_in_send_order_from_any_position(database) -> None:
    store = RecipientStore(database)
    people = _people(2_500)
    assert await store.freeze("spring", iter(people)) == 2_500
    assert await store.size("spring") == 2_500
    assert await store.size("unknown") == 0
    assert await store.page("spring", 0, 3) == people[:3]
    assert await store.page("spring", 1_999, 1_000) == people[1_999:2_999]
    assert await store.page("spring", 2_500, 10) == []
    paged = [recipient async for page in store.pages("spring", 700) for recipient in page]
    assert paged == people


async def test_an_audience_is_frozen_once(database) -> None:
    store = RecipientStore(database)
    await store.freeze("once", _people(3))
    with pytest.raises(AudienceExists):
        await store.freeze("once", _people(5, start=10))
    assert await store.page("once", 0, 10) == _people(3)
    assert await store.size("once") == 3


async def test_an_audience_streams_in_from_an_async_source(database) -> None:
    async def arriving() -> AsyncIterator[Recipient]:
        for recipient in _people(1_200):
            yield recipient

    store = RecipientStore(database)
    assert await store.freeze("streamed", arriving()) == 1_200
    assert await store.page("streamed", 1_199, 5) == _people(1, start=1_199)


async def test_a_failed_write_leaves_no_audience_behind(database) -> None:
    def breaking() -> Iterator[Recipient]:
        yield from _people(10)
        raise RuntimeError("the request went away")

    store = RecipientStore(database)
    with pytest.raises(RuntimeError):
        await store.freeze("half", breaking())
    assert await store.size("half") == 0
    assert await database.fetchval("SELECT count(*) FROM recipients") == 0
    assert await store.freeze("half", _people(2)) == 2  # and it can be written again


async def test_expired_audiences_go_in_bounded_batches_and_others_stay(database) -> None:
    store = RecipientStore(database)
    now = datetime.now(UTC)
    await store.freeze("old", _people(25_000))
    await store.freeze("recent", _people(10))
    await store.freeze("running", _people(10))
    await store.expire_after("old", now - timedelta(seconds=1))
    await store.expire_after("recent", now + timedelta(days=7))
    # A second end (a redelivered completion) does not push the deadline out.
    await store.expire_after("old", now + timedelta(days=7))

    assert await store.purge_expired(now, budget=10_000) == 10_000
    assert await store.size("old") == 25_000  # the header stays until its rows are gone
    assert await store.purge_expired(now, budget=100_000) == 15_000
    assert await store.purge_expired(now) == 0
    counts = dict(
        await database.fetch("SELECT campaign_id, count(*) FROM recipients GROUP BY campaign_id")
    )
    assert counts == {"recent": 10, "running": 10}
    assert await store.size("old") == 0
    assert (
        await database.fetchval("SELECT count(*) FROM campaign_audiences WHERE campaign_id = 'old'")
        == 0
    )


async def test_audiences_kept_in_redis_move_here_once(
    database: asyncpg.Pool, redis: Redis, unique_prefix: str
) -> None:
    keys = Keys(unique_prefix)
    store = RecipientStore(database)
    people = _people(2_345)
    # As earlier versions wrote them: camelCase JSON, one per contact.
    written = [person.model_dump_json(by_alias=True) for person in people]
    await redis.rpush(keys("campaign", "old-one", "audience"), *written)
    await redis.rpush(keys("campaign", "moved-already", "audience"), b"{not even json")
    await store.freeze("moved-already", _people(2))

    assert await move_audiences_from_redis(redis, keys, store) == 2_345
    assert await store.page("old-one", 0, 3_000) == people
    assert await store.page("moved-already", 0, 10) == _people(2)
    assert [key async for key in redis.scan_iter(match=f"{unique_prefix}*")] == []


async def test_the_keyspace_scan_runs_until_it_has_finished_once(
    database: asyncpg.Pool, redis: Redis, unique_prefix: str
) -> None:
    keys = Keys(unique_prefix)
    contacts, recipients = ContactStore(database), RecipientStore(database)
    campaigns = CampaignStore(database, redis, keys)
    audience = keys("campaign", "before", "audience")
    await redis.rpush(audience, _people(1)[0].model_dump_json())
    await move_records_from_redis(redis, keys, database, contacts, recipients, campaigns, "AC1")
    assert await recipients.size("before") == 1
    assert (
        await database.fetchval(
            "SELECT count(*) FROM moves_from_redis WHERE name = $1", SCANNED_MOVES
        )
        == 1
    )
    # Written after the move finished (an old api still running): not scanned for again.
    late = keys("campaign", "late", "audience")
    await redis.rpush(late, _people(1)[0].model_dump_json())
    await move_records_from_redis(redis, keys, database, contacts, recipients, campaigns, "AC1")
    assert await recipients.size("late") == 0
    assert await redis.exists(late)


async def _outcomes(database: asyncpg.Pool, campaign_id: str) -> list[tuple]:
    rows = await database.fetch(
        "SELECT position, state, error_code, message_sid, reason FROM recipients"
        " WHERE campaign_id = $1 ORDER BY position",
        campaign_id,
    )
    return [tuple(row) for row in rows]


async def test_the_first_outcome_of_each_recipient_stays_and_a_replay_changes_nothing(
    database,
) -> None:
    store = RecipientStore(database)
    await store.freeze("outcomes", _people(4))
    at = datetime.now(UTC)
    batch = [
        RecipientOutcome("outcomes", 0, "sent", at, message_sid="SM0"),
        RecipientOutcome("outcomes", 1, "failed", at, error_code=63016, reason="outside window"),
        # The same recipient twice in one batch: the first is its outcome.
        RecipientOutcome("outcomes", 0, "failed", at, error_code=30007),
        RecipientOutcome("outcomes", 3, "skipped", at, reason="opted_out"),
        # No such recipient (a campaign whose audience is elsewhere): nothing to write.
        RecipientOutcome("outcomes", 99, "sent", at, message_sid="SM99"),
        RecipientOutcome("elsewhere", 0, "sent", at, message_sid="SMx"),
    ]
    assert await store.record_outcomes(batch) == 3
    written = await _outcomes(database, "outcomes")
    assert written == [
        (0, "sent", None, "SM0", None),
        (1, "failed", 63016, None, "outside window"),
        (2, None, None, None, None),
        (3, "skipped", None, None, "opted_out"),
    ]
    # Read again after a crash, or a later, different result: the first one stays.
    assert await store.record_outcomes(batch) == 0
    later = [RecipientOutcome("outcomes", 1, "sent", at, message_sid="SM1")]
    assert await store.record_outcomes(later) == 0
    assert await _outcomes(database, "outcomes") == written
    assert await store.record_outcomes([]) == 0


async def test_receipts_move_each_recipient_forward_only(database: asyncpg.Pool) -> None:
    store = RecipientStore(database)
    await store.freeze("r", _people(4))
    at = datetime(2026, 12, 1, 10, tzinfo=UTC)

    def receipt(position: int, state: str, code: int | None = None) -> RecipientReceipt:
        return RecipientReceipt("r", position, state, at, code)

    moved = await store.record_receipts(
        [
            receipt(0, "sent"),
            receipt(0, "delivered"),
            receipt(0, "sent"),  # late, in the same batch
            receipt(1, "failed", 63016),
            receipt(2, "read"),
            receipt(9, "read"),  # no such recipient
        ]
    )
    assert moved == 3
    # Read again after a crash, a late one, and a failure after delivery: nothing moves.
    assert await store.record_receipts([receipt(0, "delivered"), receipt(2, "queued")]) == 0
    assert await store.record_receipts([receipt(0, "undelivered", 30007)]) == 0
    assert await store.record_receipts([receipt(0, "read"), receipt(3, "queued")]) == 2
    results = await store.results("r", 0, 10)
    assert [(r.delivery_state, r.delivery_error_code) for r in results] == [
        ("read", None),
        ("failed", 63016),
        ("read", None),
        ("queued", None),
    ]
    assert results[0].delivery_at == at
    assert await store.record_receipts([]) == 0


async def test_the_state_filters_say_what_the_state_rule_says(database: asyncpg.Pool) -> None:
    """shared/store/recipient_states.py: each ?state= condition selects exactly the rows
    that recipient_state() names so, over every outcome and receipt a row may hold."""
    outcomes = [None, "sent", "failed", "skipped", "cancelled", "expired"]
    receipts = [None, "queued", "sent", "delivered", "read", "failed", "undelivered"]
    combos = [(o, d) for o in outcomes for d in receipts]
    store = RecipientStore(database)
    await store.freeze("s", _people(len(combos)))
    await database.executemany(
        "UPDATE recipients SET state = $2, delivery_state = $3"
        " WHERE campaign_id = 's' AND position = $1",
        [(position, o, d) for position, (o, d) in enumerate(combos)],
    )
    for state in RECIPIENT_STATES:
        named = [p for p, (o, d) in enumerate(combos) if recipient_state(o, d) == state]
        selected = [r.position for r in await store.results("s", 0, 100, state)]
        assert selected == named, state
        page, total = await store.results_page("s", 0, 100, state)
        assert ([r.position for r in page], total) == (named, len(named)), state
