"""The dispatcher on the real stack: an inline campaign becomes exact commands and skips."""

from __future__ import annotations

from pathlib import Path

from services.dispatcher.app import DispatcherService
from services.dispatcher.settings import DispatcherSettings
from shared.events.models import (
    CampaignStarted,
    InlineAudience,
    MessageSkipped,
    Recipient,
    SendMessage,
    SendMessageBatch,
    TextContent,
)
from shared.kafka import ensure_topics
from shared.redis import Keys
from shared.store.campaigns import CampaignStore
from shared.store.progress import ProgressStore
from shared.topics import Topics
from tests.kafka_io import publish, publish_raw, reading
from tests.pipeline.conftest import running


def _commands(events) -> list[SendMessage]:
    return [c for e in events if isinstance(e, SendMessageBatch) for c in e.commands]


async def test_an_inline_campaign_is_expanded_exactly(
    make_settings, redis, database, tmp_path: Path
):
    settings = make_settings(
        DispatcherSettings,
        batch_size=100,
        commands_per_record=25,
        health_port=0,
        dispatcher_data_dir=tmp_path / "faust",
    )
    await ensure_topics(settings)
    topics = Topics.from_settings(settings)
    valid = [
        Recipient(contact_id=f"c{i}", phone=f"+3460000{i:04d}", name=f"Ana{i}") for i in range(300)
    ]
    duplicates = [
        Recipient(contact_id=f"d{i}", phone=f"+34 600 00 {i:04d}") for i in range(5)
    ]  # same numbers as c0..c4, written another way
    invalid = [Recipient(contact_id=f"x{i}", phone="12345") for i in range(3)]
    event = CampaignStarted(
        campaign_id="camp-1",
        job_id="campaign_camp-1_1",
        owner_id="u1",
        content=TextContent(body="Hola {{name}}"),
        audience=InlineAudience(recipients=valid + duplicates + invalid),
    )

    async with (
        running(DispatcherService(settings)),
        reading(settings, topics.message_commands) as commands,
        reading(settings, topics.message_results) as results,
        reading(settings, topics.message_dlq) as dead_letters,
    ):
        unknown_version = b'{"type": "CampaignStarted", "version": 7, "campaignId": "camp-1"}'
        await publish_raw(settings, topics.campaign_events, b"camp-1", unknown_version)
        await publish(settings, topics.campaign_events, "camp-1", event)
        await commands.until(
            lambda events: len(_commands(events)) >= 300, timeout_s=30, what="300 commands"
        )
        await results.until(lambda events: len(events) >= 8, timeout_s=30, what="8 skipped")
        letters = await dead_letters.until(bool, timeout_s=10, what="a dead letter")

    assert "unknown event type 'CampaignStarted' version 7" in letters[0].reason

    sent_to = [c.to for c in _commands(commands.events)]
    assert sorted(sent_to) == sorted(f"whatsapp:+3460000{i:04d}" for i in range(300))
    first = next(c for c in _commands(commands.events) if c.contact_id == "c7")
    assert first.content == TextContent(body="Hola Ana7")
    assert first.from_number == f"whatsapp:{settings.twilio_whatsapp_number.split(':')[-1]}"
    skipped = {e.contact_id: e.reason for e in results.events if isinstance(e, MessageSkipped)}
    assert skipped == {
        **{f"d{i}": "duplicate" for i in range(5)},
        **{f"x{i}": "invalid" for i in range(3)},
    }

    keys = Keys(settings.redis_key_prefix)
    progress = await ProgressStore(redis, keys).read("camp-1")
    assert (progress.total, progress.batches_total, progress.batches_emitted) == (308, 4, 4)
    record = await CampaignStore(database, redis, keys).get("camp-1")
    assert (record.status, record.owner_id, record.total) == ("sending", "u1", 308)
