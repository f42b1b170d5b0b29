"""Commands and the outcomes the dispatcher decides, produced to Kafka.

Commands go in records of ``per_record`` commands, keyed as services/dispatcher/
command_batches.py says: by position for a batch, by first contact for released
ones. Outcomes are keyed by campaign. Both wait for Kafka's acknowledgement.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from services.dispatcher.command_batches import RecordKey, command_records
from shared.events.models import Event, SendMessage
from shared.kafka import send_events
from shared.topics import Topics

SOURCE = "/services/dispatcher"


async def produce_commands(
    producer: AIOKafkaProducer,
    topic: str,
    campaign_id: str,
    commands: Sequence[SendMessage],
    per_record: int,
    key: RecordKey,
) -> None:
    records = command_records(campaign_id, commands, per_record, key)
    if records:
        await send_events(producer, topic, records, source=SOURCE)


async def produce_results(
    producer: AIOKafkaProducer, topic: str, campaign_id: str, results: Sequence[Event]
) -> None:
    if results:
        key = campaign_id.encode()
        await send_events(producer, topic, [(key, result) for result in results], source=SOURCE)


async def produce_commands_and_results(
    producer: AIOKafkaProducer,
    topics: Topics,
    campaign_id: str,
    commands: Sequence[SendMessage],
    results: Sequence[Event],
    per_record: int,
    key: RecordKey,
) -> None:
    """A step's commands, then the outcomes it decided (a batch's, or a release's)."""
    await produce_commands(
        producer, topics.message_commands, campaign_id, commands, per_record, key
    )
    await produce_results(producer, topics.message_results, campaign_id, results)
