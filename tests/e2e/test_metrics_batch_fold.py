"""The metrics fold works a poll batch at a time and counts exactly what it did one by one.

Against the real Redis (and Kafka for the service): duplicates within a batch, across
groups and across batches count once; a campaign completes once, by the group that
reaches its total; the batch script leaves Redis as the one-group fold did.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from services.metrics.app import MetricsService
from services.metrics.fold import ProgressFolder, Retention, group_results
from services.metrics.settings import MetricsSettings
from services.metrics.spans import BatchSpans
from shared.events.models import (
    Event,
    MessageDeferred,
    MessageFailed,
    MessagesCancelled,
    MessageSent,
    MessageSkipped,
    MessageStatusReported,
    TextContent,
)
from shared.kafka import ensure_topics
from shared.metrics import RESULTS_FOLDED
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.funnel import FunnelStore, Receipt, advance, state_of
from shared.store.progress import ProgressStore, ResultGroup
from shared.store.recipients import RecipientStore
from shared.store.stats import BUCKET_MS, StatsStore
from shared.store.suppressions import SuppressionCache, SuppressionStore
from shared.topics import Topics
from shared.tracing import is_sampled as sampled
from tests.helpers import eventually
from tests.kafka_io import publish, publish_raw, reading
from tests.pipeline.conftest import running

T0 = datetime(2030, 1, 1, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def sent(campaign: str, contact: str, batch: int, ms: int = 0) -> MessageSent:
    return MessageSent(
        campaign_id=campaign,
        contact_id=contact,
        to="whatsapp:+1",
        batch_index=batch,
        message_sid=f"SM{campaign}{contact}",
        occurred_at=at(ms),
    )


def failed(campaign: str, contact: str, batch: int, code: int, retryable: bool = False):
    return MessageFailed(
        campaign_id=campaign,
        contact_id=contact,
        to="whatsapp:+1",
        batch_index=batch,
        error_code=code,
        error_message="no",
        retryable=retryable,
        occurred_at=at(0),
    )


def skipped(campaign: str, contact: str, batch: int, reason: str = "opted_out"):
    return MessageSkipped(
        campaign_id=campaign,
        contact_id=contact,
        to="whatsapp:+1",
        batch_index=batch,
        reason=reason,
        occurred_at=at(0),
    )


async def dump(redis, prefix: str) -> dict[str, object]:
    """Every key under a prefix with its content, the prefix taken off."""
    state: dict[str, object] = {}
    async for raw in redis.scan_iter(match=f"{prefix}*"):
        key = raw.decode()
        if await redis.type(key) == b"set":
            state[key.removeprefix(prefix)] = await redis.smembers(key)
        else:
            state[key.removeprefix(prefix)] = await redis.hgetall(key)
    return state


def test_a_batch_is_grouped_with_each_contact_once_in_order_of_arrival() -> None:
    events: list[Event] = [
        sent("a", "c1", 0, ms=5),
        failed("a", "c2", 0, 21211),
        sent("b", "c1", 0, ms=7),  # another campaign's c1: a contact of its own
        sent("a", "c3", 0, ms=9),
        failed("a", "c1", 0, 21211),  # c1 of a has its result already: dropped
        MessageDeferred(campaign_id="a", contact_id="c4", to="x", reason="held"),
        MessagesCancelled(
            campaign_id="a", batch_index=1, contact_ids=["c5", "c3", "c6"], occurred_at=at(0)
        ),
        sent("a", "c7", 0, ms=BUCKET_MS),  # the next alerts bucket: a group of its own
    ]
    groups = group_results(events)
    assert [
        (group.campaign_id, group.outcome, results) for (group, _), results in groups.items()
    ] == [
        ("a", "sent", [("c1", T0_MS + 5), ("c3", T0_MS + 9)]),
        ("a", "failed", [("c2", T0_MS)]),
        ("b", "sent", [("c1", T0_MS + 7)]),
        ("a", "cancelled", [("c5", T0_MS), ("c6", T0_MS)]),
        ("a", "sent", [("c7", T0_MS + BUCKET_MS)]),
    ]
    failure = next(group for group, _ in groups if group.outcome == "failed")
    assert failure == ResultGroup("a", "failed", 0, 21211, retryable=False, skip_reason=None)


async def test_one_call_folds_many_groups_exactly(redis, make_settings) -> None:
    keys = Keys(make_settings().redis_key_prefix)
    store = ProgressStore(redis, keys)
    # a: 5 contacts in batches of 3 (batch 0: c0-c2, batch 1: c3-c4); b: 2 in one batch.
    await store.begin("a", total=5, batch_size=3, started_ms=1)
    await store.begin("b", total=2, batch_size=2, started_ms=1)
    first = await store.fold_many(
        [
            (ResultGroup("a", "sent", 0), [("c0", 300), ("c1", 100), ("c0", 900)]),
            (ResultGroup("a", "failed", 0, 63016, retryable=True), [("c2", 200), ("c1", 50)]),
            (ResultGroup("b", "sent", 0), [("x0", 400)]),
            (ResultGroup("a", "skipped", 1, skip_reason="opted_out"), [("c3", 500)]),
        ]
    )
    # c0 and c1 are counted once, with their first outcome; no campaign is complete.
    assert first == [(2, False), (1, False), (1, False), (1, False)]
    second = await store.fold_many(
        [
            # The same results again, as a batch read twice: nothing new.
            (ResultGroup("a", "sent", 0), [("c0", 300), ("c1", 100)]),
            (ResultGroup("b", "sent", 0), [("x1", 450), ("x0", 400)]),
            (ResultGroup("a", "failed", 1, 21211), [("c4", 600), ("c2", 700)]),
        ]
    )
    assert second == [(0, False), (1, True), (1, True)]

    a, b = await store.read("a"), await store.read("b")
    assert (a.processed, a.sent, a.failed, a.skipped, a.jobs_completed) == (5, 2, 2, 1, 2)
    assert a.errors == {63016: 1, 21211: 1} and a.skipped_by_reason == {"opted_out": 1}
    # Times of counted results only: c0's repeat at 900 and c2's at 700 are not.
    assert (a.first_result_ms, a.last_result_ms, a.finished_ms) == (100, 600, 600)
    assert (b.processed, b.sent, b.jobs_completed, b.finished_ms) == (2, 2, 1, 450)
    assert await store.take_retryable_failures("a") == {"c2"}
    outcomes = await redis.hgetall(keys("progress", "a", "outcomes"))
    assert outcomes == {
        b"c0": b"sent",
        b"c1": b"sent",
        b"c2": b"failed",
        b"c3": b"skipped",
        b"c4": b"failed",
    }
    assert await store.fold_many([]) == []


async def test_the_batch_fold_leaves_redis_as_folding_one_group_at_a_time(
    redis, make_settings
) -> None:
    prefix = make_settings().redis_key_prefix
    one_by_one = ProgressStore(redis, Keys(f"{prefix}single."))
    batched = ProgressStore(redis, Keys(f"{prefix}batch."))
    groups = [
        (ResultGroup("a", "sent", 0), [("c0", 30), ("c1", 30)]),
        (ResultGroup("a", "failed", 0, 30007, retryable=True), [("c1", 40), ("c2", 10)]),
        (ResultGroup("b", "cancelled", 0), [("k0", 50), ("k1", 50), ("k2", 50)]),
        (ResultGroup("a", "skipped", 1, skip_reason="invalid"), [("c3", 20)]),
        (ResultGroup("b", "expired", 1), [("k2", 60), ("k3", 60)]),
        (ResultGroup("a", "sent", 1), [("c4", 70), ("c0", 80)]),
    ]
    replies_one_by_one = []
    for store in (one_by_one, batched):
        await store.begin("a", total=5, batch_size=3, started_ms=1)
        await store.begin("b", total=4, batch_size=3, started_ms=1)
    for group, results in groups:
        # Each group is folded as it would have been, one result after another.
        new, completes = 0, False
        for contact, at_ms in results:
            reply = await one_by_one.fold(
                group.campaign_id,
                [contact],
                group.outcome,
                group.batch_index,
                group.error_code,
                at_ms,
                retryable=group.retryable,
                skip_reason=group.skip_reason,
            )
            new, completes = new + reply[0], completes or reply[1]
        replies_one_by_one.append((new, completes))

    assert await batched.fold_many(groups) == replies_one_by_one
    assert replies_one_by_one == [
        (2, False),
        (1, False),
        (3, False),
        (1, False),
        (1, True),
        (1, True),
    ]
    single = await dump(redis, f"{prefix}single.")
    assert single and single == await dump(redis, f"{prefix}batch.")


async def test_a_folded_batch_completes_each_campaign_once_and_counts_exactly(
    redis, database, make_settings
) -> None:
    keys = Keys(make_settings().redis_key_prefix)
    campaigns = CampaignStore(database, redis, keys)
    progress = ProgressStore(redis, keys)
    stats = StatsStore(redis, keys)
    suppressions = SuppressionStore(database, SuppressionCache(redis, keys, "AC1"), "AC1")
    folder = ProgressFolder(
        progress, campaigns, RecipientStore(database), suppressions, Retention(), stats
    )
    for campaign_id, total in (("a", 3), ("b", 2)):
        await campaigns.create(
            CampaignRecord(
                id=campaign_id, status="sending", content=TextContent(body="x"), total=total
            )
        )
        await progress.begin(campaign_id, total=total, batch_size=2, started_ms=1)

    def counted(outcome: str) -> float:
        return RESULTS_FOLDED.labels(outcome=outcome)._value.get()

    before = {outcome: counted(outcome) for outcome in ("sent", "failed", "skipped")}
    assert (
        await folder.fold_batch([sent("a", "c0", 0), sent("a", "c0", 0), sent("b", "k0", 0)]) == 2
    )
    second_batch = [
        sent("a", "c0", 0),  # read again in a later batch: counted once
        failed("a", "c1", 0, 21211),
        skipped("b", "k1", 0),
        failed("b", "k1", 0, 21211),  # a second result of k1 in the batch
        sent("a", "c2", 1),
    ]
    assert await folder.fold_batch(second_batch) == 3
    assert await folder.fold_batch(second_batch) == 0
    await folder.flush_stats()

    assert await campaigns.status("a") == "completed" and await campaigns.status("b") == "completed"
    jobs = await progress.jobs("completed")
    assert sorted(job["campaignId"] for job in jobs) == ["a", "b"]
    a, b = await progress.read("a"), await progress.read("b")
    assert (a.processed, a.sent, a.failed, a.jobs_completed) == (3, 2, 1, 2)
    assert (b.processed, b.sent, b.skipped, b.failed) == (2, 1, 1, 0)
    assert {outcome: counted(outcome) - before[outcome] for outcome in before} == {
        "sent": 3,
        "failed": 1,
        "skipped": 1,
    }
    window = await stats.window(3600, now_ms=T0_MS + 1_000)
    assert (window.sent, window.failed) == (3, 1)


async def test_the_service_folds_batches_from_kafka_once(make_settings, redis, database) -> None:
    settings = make_settings(MetricsSettings, health_port=0)
    await ensure_topics(settings)
    topics = Topics.from_settings(settings)
    keys = Keys(settings.redis_key_prefix)
    campaigns = CampaignStore(database, redis, keys)
    progress = ProgressStore(redis, keys)
    for campaign_id, total in (("m1", 4), ("m2", 3), ("m3", 1)):
        await campaigns.create(
            CampaignRecord(
                id=campaign_id, status="sending", content=TextContent(body="x"), total=total
            )
        )
        await progress.begin(campaign_id, total=total, batch_size=2, started_ms=1)
    first = [
        sent("m1", "c0", 0),
        sent("m1", "c0", 0),
        failed("m1", "c1", 0, 21211, retryable=True),
        sent("m2", "k0", 0),
        MessagesCancelled(campaign_id="m2", batch_index=0, contact_ids=["k0", "k1"]),
        MessagesCancelled(campaign_id="m1", batch_index=1, contact_ids=["c2", "c3"]),
        MessageSkipped(
            campaign_id="m2", contact_id="k2", to="x", batch_index=1, reason="duplicate"
        ),
    ]
    async with (
        running(MetricsService(settings)),
        reading(settings, topics.message_dlq) as dead_letters,
    ):
        # All on one partition (one key): read in order, in as few polls as Kafka gives.
        await publish(settings, topics.message_results, "m", *first[:3])
        await publish_raw(settings, topics.message_results, b"m", b"\x00garbage")
        await publish(settings, topics.message_results, "m", *first[3:])

        async def both_completed() -> bool:
            return (await campaigns.status("m1"), await campaigns.status("m2")) == (
                "completed",
                "completed",
            )

        await eventually(both_completed, timeout_s=30, what="m1 and m2 completed")
        letters = await dead_letters.until(bool, timeout_s=10, what="a dead letter")
        # Everything again, then m3's only result behind it on the same partition:
        # once m3 is complete, the repeats have been folded (to nothing).
        await publish(settings, topics.message_results, "m", *first, sent("m3", "z0", 0))

        async def m3_completed() -> bool:
            return await campaigns.status("m3") == "completed"

        await eventually(m3_completed, timeout_s=30, what="m3 completed")

    assert letters[0].source_topic == topics.message_results
    m1, m2 = await progress.read("m1"), await progress.read("m2")
    assert (m1.processed, m1.sent, m1.failed, m1.cancelled, m1.jobs_completed) == (4, 1, 1, 2, 2)
    assert (m2.processed, m2.sent, m2.cancelled, m2.skipped) == (3, 1, 1, 1)
    assert m2.skipped_by_reason == {"duplicate": 1}
    assert await progress.take_retryable_failures("m1") == {"c1"}
    jobs = await progress.jobs("completed")
    assert sorted(job["campaignId"] for job in jobs) == ["m1", "m2", "m3"]


async def test_receipts_of_a_batch_fold_as_one_by_one(redis, make_settings) -> None:
    keys = Keys(make_settings().redis_key_prefix)
    funnels = FunnelStore(redis, keys)
    receipts = [
        Receipt("r1", "SM1", "read"),
        Receipt("r2", "SM1", "sent"),  # another campaign's SM1
        Receipt("r1", "SM1", "delivered"),
        Receipt("r1", "SM2", "queued"),
        Receipt("r1", "SM2", "canceled"),  # outside the funnel
        Receipt("r1", "SM2", "undelivered", 30007),
        Receipt("r1", "SM2", "delivered"),
        Receipt("r2", "SM3", "failed"),
        Receipt("r2", "SM1", "delivered"),
    ]
    furthest: dict[tuple[str, str], str | None] = {}
    expected = []
    for receipt in receipts:
        reported = state_of(receipt.status)
        key = (receipt.campaign_id, receipt.message_sid)
        moved = reported is not None and advance(furthest.get(key), reported) is not None
        if moved:
            furthest[key] = reported
        expected.append(moved)

    assert await funnels.fold_many(receipts, 600) == expected
    assert await funnels.fold_many(receipts, 600) == [False] * len(receipts)
    r1, r2 = await funnels.read("r1"), await funnels.read("r2")
    assert r1.current == {"read": 1, "undelivered": 1}
    assert r2.current == {"delivered": 1, "failed": 1}
    assert r1.errors == {"undelivered": {"30007": 1}} and r2.errors == {"failed": {"unknown": 1}}
    for part in ((), ("states",), ("errors",)):
        assert 0 < await redis.ttl(keys("funnel", "r2", *part)) <= 600
    assert await funnels.fold_many([], 600) == []


async def test_the_service_folds_a_batch_of_receipts(make_settings, redis) -> None:
    settings = make_settings(MetricsSettings, health_port=0, progress_ttl_s=600)
    await ensure_topics(settings)
    topics = Topics.from_settings(settings)
    funnels = FunnelStore(redis, Keys(settings.redis_key_prefix))
    receipts = [
        MessageStatusReported(message_sid=sid, status=status, campaign_id=campaign)
        for sid, status, campaign in (
            ("SM1", "delivered", "r1"),
            ("SM1", "sent", "r1"),
            ("SM2", "read", "r2"),
            ("SM3", "sent", None),
        )
    ]
    async with running(MetricsService(settings)):
        await publish(settings, topics.message_status, "s", *receipts)

        async def folded() -> bool:
            return (await funnels.read("r1")).current == {"delivered": 1} and (
                await funnels.read("r2")
            ).current == {"read": 1}

        await eventually(folded, timeout_s=30, what="funnels of r1 and r2 folded")


TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def traceparent(span_id: str, flags: str) -> list[tuple[str, bytes]]:
    return [("ce_id", b"x"), ("traceparent", f"00-{TRACE_ID}-{span_id}-{flags}".encode())]


def test_a_result_span_only_for_sampled_traces() -> None:
    assert sampled(traceparent("b7ad6b7169203331", "01"))
    assert sampled(traceparent("b7ad6b7169203331", "03"))
    assert not sampled(traceparent("b7ad6b7169203331", "00"))
    assert not sampled([("traceparent", b"00-nonsense")])
    assert not sampled([("traceparent", b"00-" + b"z" * 49 + b"-zz")])
    assert not sampled(None)

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with BatchSpans(
        "fold message.results batch", topic="t.results", records=3, tracer=tracer
    ) as spans:
        spans.result(
            "fold MessageSent", traceparent("b7ad6b7169203331", "01"), {"campaign.id": "a"}
        )
        spans.result(
            "fold MessageSent", traceparent("00f067aa0ba902b7", "00"), {"campaign.id": "a"}
        )
        spans.result("fold MessageSent", None, {"campaign.id": "a"})
    finished = {span.name: span for span in exporter.get_finished_spans()}
    assert sorted(finished) == ["fold MessageSent", "fold message.results batch"]
    batch, result = finished["fold message.results batch"], finished["fold MessageSent"]
    assert batch.attributes["messaging.batch.message_count"] == 3
    assert batch.parent is None
    assert f"{result.context.trace_id:032x}" == TRACE_ID
    assert f"{result.parent.span_id:016x}" == "b7ad6b7169203331"
    assert result.attributes["messaging.destination.name"] == "t.results"
    assert result.attributes["campaign.id"] == "a"
    assert [link.context.span_id for link in result.links] == [batch.context.span_id]

    exporter.clear()
    try:
        with BatchSpans("fold message.results batch", topic="t", records=1, tracer=tracer) as spans:
            spans.result("fold MessageSent", traceparent("b7ad6b7169203331", "01"), {})
            raise OSError("redis gone")
    except OSError:
        pass
    assert {span.status.status_code for span in exporter.get_finished_spans()} == {StatusCode.ERROR}
    assert len(exporter.get_finished_spans()) == 2
