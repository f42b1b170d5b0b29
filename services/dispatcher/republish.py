"""Commands the dispatcher held going back to the senders, and outcomes it decides itself.

Held commands (paused, or waiting for a window or a tier) are produced again in
records of ``per_record`` commands, keyed by their first contact so that a
campaign's held commands spread over the partitions like fresh ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from services.dispatcher.command_batches import by_first_contact, command_records
from shared.events.models import CancelReason, Event, SendMessage
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
    records = command_records(
        campaign_id, commands, per_record, by_first_contact(campaign_id, origin)
    )
    if records:
        await send_events(producer, topic, records, source=SOURCE)


async def produce_results(
    producer: AIOKafkaProducer, topic: str, campaign_id: str, results: Sequence[Event]
) -> None:
    if results:
        key = campaign_id.encode()
        await send_events(producer, topic, [(key, result) for result in results], source=SOURCE)


# Outcomes decided without a send, built by the commands themselves like the sender's.


def cancelled(commands: Sequence[SendMessage], reason: CancelReason = "stopped") -> list[Event]:
    return [command.cancelled(reason) for command in commands]


def skipped_opted_out(commands: Sequence[SendMessage]) -> list[Event]:
    return [command.skipped("opted_out") for command in commands]
