"""What the sender sends for a record it gives up on: the DLQ entry and failed outcomes."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer, ConsumerRecord

from shared.dlq import send_to_dlq
from shared.events.models import MessageFailed, SendMessage

SOURCE = "/services/sender"
# Enough of an error for the DLQ and the failed contacts' reason.
MAX_REASON_CHARS = 300


def error_summary(error: Exception) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())[:MAX_REASON_CHARS]


def failed_for(command: SendMessage, reason: str) -> MessageFailed:
    """The contact's outcome when its record is set aside: failed, not to be retried."""
    return MessageFailed(
        campaign_id=command.campaign_id,
        contact_id=command.contact_id,
        to=command.to,
        attempt=command.attempt,
        batch_index=command.batch_index,
        error_code=None,
        error_message=reason,
        retryable=False,
    )


async def dead_letter(
    producer: AIOKafkaProducer, dlq_topic: str, record: ConsumerRecord, reason: str
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
