"""The faust application: agents over campaign.events and the ticks, and the cursor table.

Records are read as bytes and parsed with our own event models: faust Records
do not validate types. Only the tick agent expands, so only it writes the
cursor table; the table is backed by a changelog topic, so a restarted
dispatcher continues each campaign where it stopped.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import faust

from services.dispatcher.expansion import Expander
from services.dispatcher.isolation import (
    fail_campaign,
    failure_reason,
    is_infrastructure,
    with_retries,
)
from services.dispatcher.settings import DispatcherSettings
from shared.dlq import send_to_dlq
from shared.events import EventDecodeError, decode
from shared.events.models import CampaignStarted
from shared.lifecycle import CONTROL_OF_EVENT, Control, move
from shared.renewing_producer import RenewingProducer
from shared.store.campaigns import CampaignStore
from shared.topics import Topics
from shared.tracing import consuming

log = logging.getLogger(__name__)

METADATA_MAX_AGE_MS = 10_000


@dataclass(frozen=True, slots=True)
class _Agents:
    """What the agents use, built once by the service object (app.py)."""

    settings: DispatcherSettings
    topics: Topics
    expander: Expander
    campaigns: CampaignStore
    producer: RenewingProducer


async def _isolated(
    agents: _Agents,
    record: faust.EventT[bytes],
    campaign_id: str,
    step: Callable[[], Awaitable[None]],
) -> None:
    """Run one campaign's step so that its failure never stops the agent's loop."""
    settings = agents.settings
    error = await with_retries(settings, campaign_id, step)
    if error is None or is_infrastructure(error):
        # A start or control event is not lost to an outage either: the api's status is
        # the truth the senders read, and a campaign left expanding is ticked again.
        return
    reason = failure_reason(error, settings.batch_retry_attempts + 1)
    try:
        await fail_campaign(agents.campaigns, agents.expander, campaign_id, reason)
        await _dead_letter(agents, record, reason)
    except Exception:
        # Redis or Kafka went away meanwhile: the campaign is tried again on its next tick.
        log.exception("failed campaign not set aside", extra={"campaign_id": campaign_id})


async def _dead_letter(agents: _Agents, record: faust.EventT[bytes], reason: str) -> None:
    message = record.message
    await send_to_dlq(
        agents.producer,
        agents.topics.message_dlq,
        value=record.value,
        key=record.key,
        reason=reason,
        source_topic=message.topic,
        source_partition=message.partition,
        source_offset=message.offset,
        source="/services/dispatcher",
    )


async def _mirror_status(campaigns: CampaignStore, campaign_id: str, control: Control) -> None:
    """A control event from another service, written straight to Kafka, moves the status
    the dispatcher and the senders check; one from the api finds it moved already."""
    await move(campaigns, campaign_id, control.mirrored_from, control.status)


def create_faust_app(
    settings: DispatcherSettings,
    *,
    topics: Topics,
    expander: Expander,
    campaigns: CampaignStore,
    producer: RenewingProducer,
) -> faust.App:
    """The faust app; one ``expander`` serves both agents: it caches the campaigns
    being expanded."""
    agents = _Agents(settings, topics, expander, campaigns, producer)
    brokers = [f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")]
    app = faust.App(
        f"{settings.kafka_topic_prefix}dispatcher",
        broker=brokers,
        store="memory://",
        datadir=str(settings.dispatcher_data_dir),
        web_enabled=False,
        topic_partitions=settings.campaign_events_partitions,
        # Its own topics (the cursor table's changelog, the assignor's) replicated as ours.
        topic_replication_factor=settings.kafka_replication_factor,
        producer_acks=-1,
        # faust's default of 60 s would hold every campaign that long after a
        # dispatcher dies, until the group notices and reassigns its partitions.
        broker_session_timeout=settings.dispatcher_session_timeout_s,
        broker_heartbeat_interval=settings.dispatcher_session_timeout_s / 4,
        # faust's default of 5 minutes is how long a changelog missing from the first
        # metadata would hold every campaign (see isolation.is_infrastructure); a
        # metadata request every 10 s costs the brokers nothing.
        consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
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
        async for record in stream.events():
            try:
                event = decode(record.value)
            except EventDecodeError as error:
                await _dead_letter(agents, record, str(error))
                continue
            if isinstance(event, CampaignStarted):
                with consuming(
                    "process CampaignStarted",
                    record.headers,
                    topic=record.message.topic,
                    attributes={"campaign.id": event.campaign_id},
                ):
                    await _isolated(
                        agents,
                        record,
                        event.campaign_id,
                        functools.partial(expander.on_started, event),
                    )
            elif type(event) in CONTROL_OF_EVENT:
                await _isolated(
                    agents,
                    record,
                    event.campaign_id,
                    functools.partial(
                        _mirror_status, campaigns, event.campaign_id, CONTROL_OF_EVENT[type(event)]
                    ),
                )

    @app.agent(ticks)
    async def on_tick(stream: faust.StreamT[bytes]) -> None:
        async for record in stream.events():
            try:
                campaign_id = record.value.decode()
            except (UnicodeDecodeError, AttributeError) as error:
                await _dead_letter(agents, record, f"not a campaign id: {error}")
                continue

            def save_cursor(position: int, campaign_id: str = campaign_id) -> None:
                cursors[campaign_id] = position

            async def advance(campaign_id: str = campaign_id) -> None:
                await expander.advance(campaign_id, cursors[campaign_id], save_cursor)

            await _isolated(agents, record, campaign_id, advance)

    return app
