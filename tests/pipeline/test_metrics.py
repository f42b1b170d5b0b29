"""The metrics service folds results exactly: a result delivered twice counts once."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx

from services.metrics.app import MetricsService
from services.metrics.settings import MetricsSettings
from shared.events.models import (
    MessageFailed,
    MessageSent,
    MessageSkipped,
    MessageStatusReported,
    TextContent,
)
from shared.kafka import ensure_topics
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.progress import ProgressStore
from shared.topics import Topics
from tests.helpers import eventually
from tests.kafka_io import publish, publish_raw, reading
from tests.pipeline.conftest import running


async def test_results_are_folded_once_and_complete_the_campaign(
    make_settings, redis, database
) -> None:
    settings = make_settings(MetricsSettings, health_port=0)
    await ensure_topics(settings)
    topics = Topics.from_settings(settings)
    keys = Keys(settings.redis_key_prefix)
    campaigns = CampaignStore(database, redis, keys)
    progress = ProgressStore(redis, keys)
    await campaigns.create(
        CampaignRecord(id="m1", status="sending", content=TextContent(body="x"), total=4)
    )
    await progress.begin("m1", total=4, batch_size=2, started_ms=1)

    def result(kind, contact: str, batch: int, **fields):
        return kind(
            campaign_id="m1", contact_id=contact, to="whatsapp:+1", batch_index=batch, **fields
        )

    sent_c1 = result(MessageSent, "c1", 0, message_sid="SM1")
    async with (
        running(MetricsService(settings)),
        reading(settings, topics.message_dlq) as dead_letters,
    ):
        await publish(settings, topics.message_results, "m1", sent_c1, sent_c1)
        # A record that is not an event must not stop the fold.
        await publish_raw(settings, topics.message_results, b"m1", b"\x00garbage")
        await publish(
            settings,
            topics.message_results,
            "m1",
            result(MessageSent, "c2", 0, message_sid="SM2"),
            result(MessageFailed, "c3", 1, error_code=21211, error_message="invalid"),
            result(MessageSkipped, "c4", 1, reason="duplicate"),
            sent_c1,
        )

        async def completed() -> bool:
            return await campaigns.status("m1") == "completed"

        await eventually(completed, timeout_s=20, what="campaign m1 completed")
        letters = await dead_letters.until(bool, timeout_s=10, what="a dead letter")

    assert base64.b64decode(letters[0].original_base64) == b"\x00garbage"
    assert "not JSON" in letters[0].reason

    folded = await progress.read("m1")
    assert (folded.processed, folded.sent, folded.failed, folded.skipped) == (4, 2, 1, 1)
    assert folded.jobs_completed == 2
    assert folded.errors == {21211: 1}
    record = await campaigns.get("m1")
    assert record.finished_at is not None and record.finished_at <= datetime.now(UTC)


async def test_job_records_keep_only_the_newest(redis, make_settings) -> None:
    settings = make_settings()
    store = ProgressStore(redis, Keys(settings.redis_key_prefix))
    for number in range(105):
        await store.record_job("completed", {"campaignId": f"c{number}"}, keep=100)
    for number in range(3):
        await store.record_job("failed", {"campaignId": f"f{number}"}, keep=2)
    completed = await store.jobs("completed")
    assert [job["campaignId"] for job in completed[:2]] == ["c104", "c103"]
    assert len(completed) == 100 and completed[-1]["campaignId"] == "c5"
    assert [job["campaignId"] for job in await store.jobs("failed")] == ["f2", "f1"]


async def test_a_fold_loop_that_dies_makes_the_service_unhealthy(make_settings) -> None:
    settings = make_settings(MetricsSettings, health_port=0)
    await ensure_topics(settings)
    topics = Topics.from_settings(settings)
    service = MetricsService(settings)

    async def broken(_events: object) -> int:
        raise ValueError("a bug nobody retries")

    service.receipts.fold_batch = broken  # type: ignore[method-assign]
    async with running(service), httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{service.health.port}/health"

        async def health() -> tuple[int, dict]:
            response = await client.get(url)
            return response.status_code, response.json()

        assert await health() == (
            200,
            {"status": "ok", "kafka": True, "redis": True, "postgres": True, "folding": True},
        )
        receipt = MessageStatusReported(message_sid="SM1", status="delivered", campaign_id="m")
        await publish(settings, topics.message_status, "m", receipt)

        async def unhealthy() -> bool:
            return (await health())[0] == 503

        await eventually(unhealthy, timeout_s=20, what="the dead loop reported")
        assert (await health())[1]["folding"] is False
