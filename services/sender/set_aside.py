"""What the sender sends for a record it gives up on: the DLQ entry and failed outcomes."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from shared.dlq import send_to_dlq
from shared.events.models import MessageFailed, SendMessage
from shared.renewing_producer import RenewingProducer

SOURCE = "/services/sender"


def failed_for(command: SendMessage, reason: str) -> MessageFailed:
    """The contact's outcome when its record is set aside: failed, not to be retried."""
    return command.failed(None, reason, retryable=False)


async def dead_letter(
    producer: RenewingProducer, dlq_topic: str, record: ConsumerRecord, reason: str
) -> None:
    await send_to_dlq(
        producer,
        dlq_topic,
        value=record.value,
        key=record.key,
        reason=reason,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        source=SOURCE,
    )
