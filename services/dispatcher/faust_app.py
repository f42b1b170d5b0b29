"""The faust application: agents over campaign.events and the ticks, and the cursor table.

Records are read as bytes and parsed with our own event models: faust Records
do not validate types. Only the tick agent expands, so only it writes the
cursor table; the table is backed by a changelog topic, so a restarted
dispatcher continues each campaign where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import faust
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from services.dispatcher.expansion import Expander
from services.dispatcher.settings import DispatcherSettings
from shared.dlq import send_to_dlq
from shared.events import EventDecodeError, decode
from shared.events.models import (
    CampaignPaused,
    CampaignResumed,
    CampaignStarted,
    CampaignStopped,
)
from shared.topics import Topics

log = logging.getLogger(__name__)

# Control events from other services are mirrored into the campaign's status,
# which the dispatcher and the senders check.
CONTROL_STATUS = {CampaignPaused: "paused", CampaignResumed: "sending", CampaignStopped: "stopped"}


def create_faust_app(
    settings: DispatcherSettings, expander_factory: Callable[[], Expander]
) -> faust.App:
    topics = Topics.from_settings(settings)
    brokers = [f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")]
    app = faust.App(
        f"{settings.kafka_topic_prefix}dispatcher",
        broker=brokers,
        store="memory://",
        datadir=str(settings.dispatcher_data_dir),
        web_enabled=False,
        topic_partitions=settings.campaign_events_partitions,
        producer_acks=-1,
        # faust's default of 60 s would hold every campaign that long after a
        # dispatcher dies, until the group notices and reassigns its partitions.
        broker_session_timeout=settings.dispatcher_session_timeout_s,
        broker_heartbeat_interval=settings.dispatcher_session_timeout_s / 4,
    )
    campaign_events = app.topic(
        topics.campaign_events, key_serializer="raw", value_serializer="raw"
    )
    ticks = app.topic(topics.dispatcher_ticks, key_serializer="raw", value_serializer="raw")
    # campaign id -> index of the next audience entry to emit.
    cursors = app.Table(
        "campaign-cursors", default=int, partitions=settings.campaign_events_partitions
    )

    @app.agent(campaign_events)
    async def on_campaign_event(stream: faust.StreamT[bytes]) -> None:
        expander: Expander = expander_factory()
        async for record in stream.events():
            try:
                event = decode(record.value)
            except EventDecodeError as error:
                message = record.message
                await send_to_dlq(
                    expander.producer,
                    topics.message_dlq,
                    value=record.value,
                    key=record.key,
                    reason=str(error),
                    source_topic=message.topic,
                    source_partition=message.partition,
                    source_offset=message.offset,
                    source="/services/dispatcher",
                )
                continue
            if isinstance(event, CampaignStarted):
                await expander.on_started(event)
            elif type(event) in CONTROL_STATUS:
                status = CONTROL_STATUS[type(event)]
                if await expander.campaigns.exists(event.campaign_id):
                    await expander.campaigns.set_fields(event.campaign_id, status=status)

    @app.agent(ticks)
    async def on_tick(stream: faust.StreamT[bytes]) -> None:
        expander: Expander = expander_factory()
        async for value in stream:
            campaign_id = value.decode()

            def save_cursor(position: int, campaign_id: str = campaign_id) -> None:
                cursors[campaign_id] = position

            try:
                await expander.advance(campaign_id, cursors[campaign_id], save_cursor)
            except (RedisError, KafkaError, OSError) as error:
                # The pacer ticks the campaign again while it has work: nothing is lost.
                log.warning(
                    "tick failed; the campaign is ticked again",
                    extra={"campaign_id": campaign_id, "reason": repr(error)},
                )

    return app
