"""The metrics service folds message.status into funnels: late and repeated receipts included."""

from __future__ import annotations

from services.metrics.app import MetricsService
from services.metrics.settings import MetricsSettings
from shared.events.models import MessageStatusReported
from shared.kafka import ensure_topics
from shared.redis import Keys
from shared.store.funnel import FunnelStore
from shared.topics import Topics
from tests.helpers import eventually
from tests.kafka_io import publish, publish_raw, reading
from tests.pipeline.conftest import running


def receipt(sid: str, status: str, code: int | None = None, campaign: str | None = "r1"):
    return MessageStatusReported(
        message_sid=sid, status=status, campaign_id=campaign, error_code=code, contact_id="k"
    )


async def test_receipts_fold_into_the_campaign_funnel(make_settings, redis) -> None:
    settings = make_settings(MetricsSettings, health_port=0, progress_ttl_s=600)
    await ensure_topics(settings)
    topics = Topics.from_settings(settings)
    funnels = FunnelStore(redis, Keys(settings.redis_key_prefix))
    receipts = [
        # SM1 is read, though its `sent` and `delivered` come last and twice.
        receipt("SM1", "read"),
        receipt("SM1", "sent"),
        receipt("SM1", "delivered"),
        receipt("SM1", "delivered"),
        receipt("SM2", "queued"),
        receipt("SM2", "sent"),
        receipt("SM2", "undelivered", 30007),
        receipt("SM3", "failed", 63016),
        receipt("SM3", "sent"),
        receipt("SM4", "sent"),
        # Not from a campaign: published by someone else, counted nowhere.
        receipt("SM5", "read", campaign=None),
    ]
    async with (
        running(MetricsService(settings)),
        reading(settings, topics.message_dlq) as dead_letters,
    ):
        for event in receipts:
            await publish(settings, topics.message_status, event.message_sid, event)
        await publish_raw(settings, topics.message_status, b"SM9", b"not a receipt")

        async def folded() -> bool:
            funnel = await funnels.read("r1")
            return funnel.current == {"read": 1, "undelivered": 1, "failed": 1, "sent": 1}

        await eventually(folded, timeout_s=20, what="funnel of r1 folded")
        letters = await dead_letters.until(bool, timeout_s=10, what="a dead letter")

    assert letters[0].source_topic == topics.message_status
    funnel = await funnels.read("r1")
    assert (funnel.sent, funnel.delivered, funnel.read) == (3, 1, 1)
    assert (funnel.failed, funnel.undelivered) == (1, 1)
    assert funnel.errors == {"failed": {"63016": 1}, "undelivered": {"30007": 1}}
    assert 0 < await redis.ttl(Keys(settings.redis_key_prefix)("funnel", "r1")) <= 600
    assert await redis.keys(f"{settings.redis_key_prefix}funnel:None*") == []
