"""The alerts' stats on the real Redis: a tally gathered in memory lands in its buckets."""

from __future__ import annotations

from shared.redis import Keys
from shared.store.stats import BUCKET_MS, KEEP_S, OutcomeTally, StatsStore

NOW_MS = 1_800_000_000_000


async def test_a_tally_is_added_to_the_buckets_of_its_results(redis, unique_prefix) -> None:
    store = StatsStore(redis, Keys(unique_prefix))
    tally = OutcomeTally()
    tally.add(NOW_MS - 2 * BUCKET_MS, "sent", 5)  # outside a 10 s window
    tally.add(NOW_MS - 1, "sent", 3)
    tally.add(NOW_MS, "sent", 4)
    tally.add(NOW_MS, "failed", 1)
    await store.count_outcomes(tally)
    await store.count_outcomes(tally)  # adds, never overwrites

    window = await store.window(seconds=BUCKET_MS / 1000, now_ms=NOW_MS)
    assert (window.sent, window.failed) == (14, 2)
    assert window.failure_rate == 2 / 16
    wide = await store.window(seconds=3 * BUCKET_MS / 1000, now_ms=NOW_MS)
    assert (wide.sent, wide.failed) == (24, 2)

    key = f"{unique_prefix}stats:outcomes:{NOW_MS // BUCKET_MS}"
    assert 0 < await redis.ttl(key) <= KEEP_S


async def test_an_empty_tally_writes_nothing(redis, unique_prefix) -> None:
    await StatsStore(redis, Keys(unique_prefix)).count_outcomes(OutcomeTally())
    assert await redis.keys(f"{unique_prefix}*") == []
