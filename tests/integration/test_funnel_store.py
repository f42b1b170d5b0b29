"""The funnel's Lua fold on the real Redis: the same rule as advance(), whatever the order."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from redis.asyncio import Redis

from shared.redis import Keys
from shared.store.funnel import FunnelStore, advance

TTL_S = 3_600


def furthest(receipts: tuple[str, ...]) -> str | None:
    state: str | None = None
    for receipt in receipts:
        state = advance(state, receipt) or state
    return state


async def test_every_order_of_receipts_ends_as_the_python_rule_says(redis, unique_prefix) -> None:
    funnels = FunnelStore(redis, Keys(unique_prefix))
    # One message per order; a duplicate, and a failure that may come after delivery.
    paths = [
        ("queued", "sent", "delivered", "read", "sent"),
        ("queued", "sent", "undelivered", "delivered"),
        ("accepted", "failed", "sent"),
    ]
    expected: Counter[str] = Counter()
    number = 0
    for path in paths:
        for order in itertools.permutations(path):
            sid = f"SM{number}"
            number += 1
            for status in order:
                await funnels.fold("c1", sid, status, 63016 if status == "failed" else None, TTL_S)
            expected[furthest(tuple(s.replace("accepted", "queued") for s in order)) or ""] += 1
    funnel = await funnels.read("c1")
    assert funnel.current == {state: n for state, n in expected.items() if n}
    assert funnel.errors.get("failed", {}) == {"63016": expected["failed"]}
    assert funnel.errors.get("undelivered", {}) == {"unknown": expected["undelivered"]}


async def test_a_receipt_twice_counts_once_and_reports_whether_it_moved(redis, unique_prefix):
    funnels = FunnelStore(redis, Keys(unique_prefix))
    assert await funnels.fold("c1", "SM1", "sent", None, TTL_S)
    assert not await funnels.fold("c1", "SM1", "sent", None, TTL_S)
    assert await funnels.fold("c1", "SM1", "read", None, TTL_S)
    assert not await funnels.fold("c1", "SM1", "delivered", None, TTL_S)
    assert not await funnels.fold("c1", "SM1", "canceled", None, TTL_S)
    funnel = await funnels.read("c1")
    assert funnel.current == {"read": 1}
    assert (funnel.sent, funnel.delivered, funnel.read) == (1, 1, 1)


async def test_two_replicas_folding_at_once_stay_exact(stack, redis, unique_prefix) -> None:
    replicas = [Redis.from_url(stack.redis_url) for _ in range(2)]
    try:
        stores = [FunnelStore(client, Keys(unique_prefix)) for client in replicas]
        receipts = [
            (f"SM{n}", status) for n in range(200) for status in ("sent", "delivered", "read")
        ]

        # Both replicas fold every receipt (a redelivery after a rebalance), in other orders,
        # each with eight folds in flight at a time.
        async def fold_all(store: FunnelStore, order: list[tuple[str, str]]) -> None:
            for sid, status in order:
                await store.fold("c1", sid, status, None, TTL_S)

        await asyncio.gather(
            *(
                fold_all(store, order[lane::8])
                for store, order in zip(stores, (receipts, receipts[::-1]), strict=True)
                for lane in range(8)
            )
        )
    finally:
        for client in replicas:
            await client.aclose()
    funnel = await FunnelStore(redis, Keys(unique_prefix)).read("c1")
    assert funnel.current == {"read": 200}


async def test_funnel_keys_expire_together(redis, unique_prefix) -> None:
    keys = Keys(unique_prefix)
    funnels = FunnelStore(redis, keys)
    await funnels.fold("c1", "SM1", "failed", 63024, 120)
    for part in ((), ("states",), ("errors",)):
        assert 0 < await redis.ttl(keys("funnel", "c1", *part)) <= 120
    many = await funnels.read_many(["c1", "c2"])
    assert [funnel.current for funnel in many] == [{"failed": 1}, {}]
