"""Messaging tiers on the real Redis: unique recipients per rolling day, across dispatchers."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from services.sender.limiter import SlidingWindowLimiter, Window
from shared.redis import Keys
from shared.store.tiers import DAY_MS, TierStore

NUMBER = "+14155550300"
NOW_MS = 1_800_000_000_000


async def test_two_dispatchers_never_open_more_conversations_than_the_tier(
    stack, redis, unique_prefix
) -> None:
    clients = [Redis.from_url(stack.redis_url) for _ in range(2)]
    stores = [TierStore(client, Keys(unique_prefix)) for client in clients]
    try:
        batches = [[f"+3461{i:07d}" for i in range(start, start + 60)] for start in (0, 30)]
        results = await asyncio.gather(
            *(
                store.admit(NUMBER, batch, limit=50, now_ms=NOW_MS)
                for store, batch in zip(stores, batches, strict=True)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    admitted = {
        recipient
        for result, batch in zip(results, batches, strict=True)
        for recipient, allowed in zip(batch, result.admitted, strict=True)
        if allowed
    }
    assert len(admitted) == 50
    assert all(result.reopens_at_ms == NOW_MS + DAY_MS for result in results)


async def test_a_recipient_already_in_a_conversation_opens_no_new_one(redis, unique_prefix) -> None:
    store = TierStore(redis, Keys(unique_prefix))
    first = await store.admit(NUMBER, ["+34610000001", "+34610000002"], limit=2, now_ms=NOW_MS)
    assert first.admitted == [True, True] and first.reopens_at_ms is None
    later = NOW_MS + 3_600_000
    again = await store.admit(NUMBER, ["+34610000002", "+34610000003"], limit=2, now_ms=later)
    assert again.admitted == [True, False]
    assert again.reopens_at_ms == NOW_MS + DAY_MS
    # A day after the first conversations opened, their places are free again.
    next_day = await store.admit(NUMBER, ["+34610000003"], limit=2, now_ms=NOW_MS + DAY_MS + 1)
    assert next_day.admitted == [True]
    assert await store.used(NUMBER, NOW_MS + DAY_MS + 1) == 1


async def test_each_sender_number_has_its_own_limiter_windows(redis, unique_prefix) -> None:
    limiter = SlidingWindowLimiter(
        redis,
        Keys(unique_prefix),
        (Window(60_000, 1),),
        {"+14155550301": (Window(60_000, 3),)},
    )
    default_waits = [await limiter.try_acquire("whatsapp:+14155550399") for _ in range(2)]
    own_waits = [await limiter.try_acquire("whatsapp:+14155550301") for _ in range(2)]
    # Granted first; the next waits for the number's own spacing: 60 s / 1, 60 s / 3.
    assert default_waits[0] == own_waits[0] == 0.0
    assert 59_000 < default_waits[1] <= 60_000
    assert 19_000 < own_waits[1] <= 20_000
