"""The rate series on the real Redis: folded by the progress and funnel scripts, each
result or receipt counted once at its own second, bounded by widening its buckets."""

from __future__ import annotations

from shared.redis import Keys
from shared.store.funnel import FunnelStore, Receipt
from shared.store.progress import ProgressStore, ResultGroup
from shared.store.rate_series import MAX_BUCKETS, RatePoint, RateSeriesStore

# A second that is a multiple of every bucket width the tests reach.
BASE_S = 1_800_000_000 // 1024 * 1024
TTL_S = 600


def ms(second: int, millisecond: int = 0) -> int:
    return second * 1000 + millisecond


def totals(points: list[RatePoint]) -> tuple[int, int, int]:
    return (
        sum(p.sent for p in points),
        sum(p.failed for p in points),
        sum(p.failed_after_acceptance for p in points),
    )


async def test_newly_counted_results_land_in_the_second_of_their_own_time(
    redis, unique_prefix
) -> None:
    keys = Keys(unique_prefix)
    progress = ProgressStore(redis, keys)
    await progress.begin("c1", total=6, batch_size=6, started_ms=ms(BASE_S))
    batch = [
        (ResultGroup("c1", "sent", 0), [("a", ms(BASE_S, 10)), ("b", ms(BASE_S, 990))]),
        (ResultGroup("c1", "failed", 0, 21211), [("c", ms(BASE_S + 3, 5))]),
        (ResultGroup("c1", "skipped", 0, skip_reason="invalid"), [("d", ms(BASE_S + 4))]),
        (ResultGroup("c1", "sent", 0), [("e", ms(BASE_S + 3, 999))]),
    ]
    await progress.fold_many(batch)
    # The same batch again (a replay after a crash), and one contact folded twice with
    # another outcome: nothing is counted twice.
    await progress.fold_many(batch)
    await progress.fold_many([(ResultGroup("c1", "failed", 0, 63016), [("a", ms(BASE_S + 2))])])

    series = await RateSeriesStore(redis, keys).read("c1")
    assert series.bucket_seconds == 1
    assert series.points == [
        RatePoint(BASE_S, sent=2),
        RatePoint(BASE_S + 1),
        RatePoint(BASE_S + 2),
        RatePoint(BASE_S + 3, sent=1, failed=1),
    ]
    counted = await progress.read("c1")
    assert counted is not None
    assert totals(series.points) == (counted.sent, counted.failed, 0)


async def test_a_run_longer_than_the_bound_is_kept_whole_in_wider_buckets(
    redis, unique_prefix
) -> None:
    keys = Keys(unique_prefix)
    progress = ProgressStore(redis, keys)
    sent = ResultGroup("c1", "sent", 0)
    # One a second for the first 3,600 seconds: per-second buckets, every one full.
    await progress.fold_many([(sent, [(f"early{s}", ms(BASE_S + s)) for s in range(MAX_BUCKETS)])])
    rates = RateSeriesStore(redis, keys)
    first_hour = await rates.read("c1")
    assert (first_hour.bucket_seconds, len(first_hour.points)) == (1, MAX_BUCKETS)

    # One more, in a later batch and an hour later: the buckets are merged in pairs.
    await progress.fold_many([(sent, [("late", ms(BASE_S + MAX_BUCKETS))])])
    widened = await rates.read("c1")
    assert widened.bucket_seconds == 2
    assert len(widened.points) == MAX_BUCKETS // 2 + 1
    assert widened.points[0] == RatePoint(BASE_S, sent=2)
    assert widened.points[-1] == RatePoint(BASE_S + MAX_BUCKETS, sent=1)
    assert totals(widened.points) == (MAX_BUCKETS + 1, 0, 0)

    # Far later still: widened as often as it takes, and still everything is counted.
    await progress.fold_many([(sent, [("later", ms(BASE_S + 5 * MAX_BUCKETS))])])
    widest = await rates.read("c1")
    assert widest.bucket_seconds == 8
    assert len(widest.points) <= MAX_BUCKETS
    assert totals(widest.points) == (MAX_BUCKETS + 2, 0, 0)
    assert len(await redis.hkeys(keys("rate", "c1", "sends"))) <= MAX_BUCKETS + 3


async def test_failures_after_acceptance_are_counted_once_at_their_receipt(
    redis, unique_prefix
) -> None:
    keys = Keys(unique_prefix)
    funnels = FunnelStore(redis, keys)
    receipts = [
        Receipt("c1", "SM1", "sent", at_ms=ms(BASE_S)),
        Receipt("c1", "SM1", "undelivered", 30007, at_ms=ms(BASE_S + 2, 400)),
        Receipt("c1", "SM2", "failed", 63016, at_ms=ms(BASE_S + 2, 900)),
        # Delivered first: a later failure is ignored by the funnel, and so here.
        Receipt("c1", "SM3", "delivered", at_ms=ms(BASE_S)),
        Receipt("c1", "SM3", "failed", 63016, at_ms=ms(BASE_S + 1)),
        # A failure whose time is unknown moves the funnel but has no second to go to.
        Receipt("c1", "SM4", "failed", 63016),
    ]
    await funnels.fold_many(receipts, TTL_S)
    await funnels.fold_many(receipts, TTL_S)  # read again: nothing moves twice

    series = await RateSeriesStore(redis, keys).read("c1")
    assert series.points == [RatePoint(BASE_S + 2, failed_after_acceptance=2)]
    # It expires with the funnel, renewed by each receipt that counts.
    assert 0 < await redis.ttl(keys("rate", "c1", "receipts")) <= TTL_S


async def test_both_series_are_read_on_one_grid_and_expire_with_their_campaign(
    redis, unique_prefix
) -> None:
    keys = Keys(unique_prefix)
    progress = ProgressStore(redis, keys)
    await progress.fold_many(
        [(ResultGroup("c1", "sent", 0), [(f"x{s}", ms(BASE_S + s)) for s in (0, MAX_BUCKETS)])]
    )
    await FunnelStore(redis, keys).fold_many(
        [Receipt("c1", "SM9", "undelivered", 30007, at_ms=ms(BASE_S + 1))], TTL_S
    )
    series = await RateSeriesStore(redis, keys).read("c1")
    # The sends' 2 s buckets hold the receipts' 1 s one.
    assert series.bucket_seconds == 2
    assert series.points[0] == RatePoint(BASE_S, sent=1, failed_after_acceptance=1)
    assert [p.at_s for p in series.points] == list(range(BASE_S, BASE_S + MAX_BUCKETS + 1, 2))

    assert await redis.ttl(keys("rate", "c1", "sends")) == -1
    await progress.expire_ended("c1", progress_ttl_s=TTL_S, results_ttl_s=2 * TTL_S)
    assert 0 < await redis.ttl(keys("rate", "c1", "sends")) <= TTL_S
    assert (await RateSeriesStore(redis, keys).read("missing")).points == []
