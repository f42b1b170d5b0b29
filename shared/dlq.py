"""Dead letters: a record that cannot be processed is kept, with the reason, not dropped."""

from __future__ import annotations

import base64
import logging

from shared.events import encode
from shared.events.models import DeadLetter
from shared.renewing_producer import RenewingProducer

log = logging.getLogger(__name__)


async def send_to_dlq(
    producer: RenewingProducer,
    dlq_topic: str,
    *,
    value: bytes | None,
    key: bytes | None,
    reason: str,
    source_topic: str,
    source_partition: int | None,
    source_offset: int | None,
    source: str,
) -> None:
    letter = DeadLetter(
        reason=reason,
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
        original_base64=base64.b64encode(value or b"").decode(),
    )
    encoded, headers = encode(letter, source=source)
    await producer.send_and_wait(dlq_topic, encoded, key=key, headers=headers)
    log.warning(
        "record sent to the dead-letter topic",
        extra={"reason": reason, "topic": source_topic, "offset": source_offset},
    )
