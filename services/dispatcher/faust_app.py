"""The faust application: agents over campaign.events, tables that survive restarts."""

from __future__ import annotations

import logging

import faust

from services.dispatcher.settings import DispatcherSettings
from shared.events import EventDecodeError, decode
from shared.topics import Topics

log = logging.getLogger(__name__)


def create_faust_app(settings: DispatcherSettings) -> faust.App:
    topics = Topics.from_settings(settings)
    brokers = [f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")]
    app = faust.App(
        f"{settings.kafka_topic_prefix}dispatcher",
        broker=brokers,
        store="memory://",
        datadir=str(settings.dispatcher_data_dir),
        web_enabled=False,
        topic_partitions=settings.campaign_events_partitions,
        topic_allow_declare=False,  # topics are created by shared.kafka.ensure_topics
        producer_acks=-1,
    )
    # Read bytes and parse with our own models: faust Records do not validate types.
    campaign_events = app.topic(
        topics.campaign_events, key_serializer="raw", value_serializer="raw"
    )

    @app.agent(campaign_events)
    async def on_campaign_event(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            try:
                event = decode(value)
            except EventDecodeError as error:
                log.warning("undecodable campaign event", extra={"reason": str(error)})
                continue
            log.info(
                "campaign event received",
                extra={
                    "event_type": event.type,
                    "campaign_id": getattr(event, "campaign_id", None),
                },  # type: ignore[attr-defined]
            )

    return app
