"""The metrics service and test sends: their outcomes count in nothing of the campaign,
but an opt-out Twilio reported for one is recorded."""

from __future__ import annotations

from services.metrics.app import MetricsService
from services.metrics.settings import MetricsSettings
from shared.events.models import MessageFailed, MessageSent, TextContent
from shared.kafka import ensure_topics
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.progress import ProgressStore
from shared.store.suppressions import SuppressionCache, SuppressionStore
from shared.test_sends import new_test_contact_id
from shared.topics import Topics
from tests.helpers import eventually
from tests.kafka_io import publish
from tests.pipeline.conftest import running

OPTED_OUT = "+34611009000"


async def test_test_outcomes_are_not_folded_into_their_campaign(
    make_settings, redis, database
) -> None:
    settings = make_settings(MetricsSettings, health_port=0)
    await ensure_topics(settings)
    topics = Topics.from_settings(settings)
    keys = Keys(settings.redis_key_prefix)
    campaigns = CampaignStore(database, redis, keys)
    progress = ProgressStore(redis, keys)
    await campaigns.create(
        CampaignRecord(id="t1", status="sending", content=TextContent(body="x"), total=2)
    )
    await progress.begin("t1", total=2, batch_size=2, started_ms=1)

    def outcome(kind, contact: str, to: str = "whatsapp:+1", **fields):
        return kind(campaign_id="t1", contact_id=contact, to=to, **fields)

    async with running(MetricsService(settings)):
        # A test send's outcomes first: were they counted, these two would complete it.
        await publish(
            settings,
            topics.message_results,
            "t1",
            outcome(MessageSent, new_test_contact_id(), message_sid="SMt", test_send=True),
            outcome(
                MessageFailed,
                new_test_contact_id(),
                to=f"whatsapp:{OPTED_OUT}",
                error_code=21610,
                error_message="unsubscribed",
                test_send=True,
            ),
            outcome(MessageSent, "c1", message_sid="SM1"),
            outcome(MessageSent, "c2", message_sid="SM2"),
        )

        async def completed() -> bool:
            return await campaigns.status("t1") == "completed"

        await eventually(completed, timeout_s=20, what="campaign t1 completed")

    folded = await progress.read("t1")
    assert (folded.processed, folded.sent, folded.failed) == (2, 2, 0)
    assert folded.errors == {}
    account = settings.twilio_credentials[0]
    opt_outs = SuppressionStore(database, SuppressionCache(redis, keys, account), account)
    assert await opt_outs.get(OPTED_OUT) is not None
