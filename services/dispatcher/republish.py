"""Commands the dispatcher held going back to the senders, and outcomes it decides itself.

Held commands (paused, or waiting for a window or a tier) are produced again in
records of ``per_record`` commands, keyed by their first contact so that a
campaign's held commands spread over the partitions like fresh ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from shared.events.models import (
    Event,
    MessageCancelled,
    MessageOutcome,
    MessageSkipped,
    SendMessage,
    SendMessageBatch,
)
from shared.kafka import send_events

SOURCE = "/services/dispatcher"


async def produce_commands(
    producer: AIOKafkaProducer,
    topic: str,
    campaign_id: str,
    commands: Sequence[SendMessage],
    per_record: int,
    origin: str,
) -> None:
    records: list[tuple[bytes, Event]] = []
    for start in range(0, len(commands), per_record):
        chunk = list(commands[start : start + per_record])
        batch = SendMessageBatch(
            campaign_id=campaign_id, batch_index=chunk[0].batch_index, commands=chunk
        )
        records.append((f"{campaign_id}:{origin}:{chunk[0].contact_id}".encode(), batch))
    if records:
        await send_events(producer, topic, records, source=SOURCE)


async def produce_results(
    producer: AIOKafkaProducer, topic: str, campaign_id: str, results: Sequence[Event]
) -> None:
    if results:
        key = campaign_id.encode()
        await send_events(producer, topic, [(key, result) for result in results], source=SOURCE)


def outcomes(
    commands: Sequence[SendMessage], outcome: type[MessageOutcome], **fields: str
) -> list[Event]:
    """The same outcome for each of these commands, decided without a send."""
    return [
        outcome(
            campaign_id=c.campaign_id,
            contact_id=c.contact_id,
            to=c.to,
            batch_index=c.batch_index,
            **fields,
        )
        for c in commands
    ]


def cancelled(commands: Sequence[SendMessage], reason: str = "stopped") -> list[Event]:
    return outcomes(commands, MessageCancelled, reason=reason)


def skipped_opted_out(commands: Sequence[SendMessage]) -> list[Event]:
    return outcomes(commands, MessageSkipped, reason="opted_out")
