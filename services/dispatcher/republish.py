"""Commands and the outcomes the dispatcher decides, produced to Kafka.

Commands go in records of ``per_record`` commands, keyed as services/dispatcher/
command_batches.py says: by position for a batch, by first contact for released
ones. Outcomes are keyed by campaign. Both wait for Kafka's acknowledgement.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.dispatcher.command_batches import RecordKey, command_records
from shared.events.models import Event, SendMessage
from shared.kafka import send_events
from shared.renewing_producer import RenewingProducer
from shared.topics import Topics

SOURCE = "/services/dispatcher"


class StepProducer:
    """What a dispatcher step writes to Kafka: the commands it emits or releases, in
    records of ``per_record``, then the outcomes it decided without a send."""

    def __init__(self, producer: RenewingProducer, topics: Topics, per_record: int) -> None:
        self._producer = producer
        self._topics = topics
        self._per_record = per_record

    @property
    def commands_topic(self) -> str:
        return self._topics.message_commands

    async def commands_and_results(
        self,
        campaign_id: str,
        commands: Sequence[SendMessage],
        results: Sequence[Event],
        key: RecordKey,
    ) -> None:
        records = command_records(campaign_id, commands, self._per_record, key)
        if records:
            await send_events(self._producer, self._topics.message_commands, records, source=SOURCE)
        await self.results(campaign_id, results)

    async def results(self, campaign_id: str, results: Sequence[Event]) -> None:
        if results:
            key = campaign_id.encode()
            await send_events(
                self._producer,
                self._topics.message_results,
                [(key, result) for result in results],
                source=SOURCE,
            )
