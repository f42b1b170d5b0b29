"""The Kafka side of the sender: commands in, outcomes out, offsets committed after both.

Knows nothing of Twilio: each SendMessage goes to ``handle`` and whatever outcome it
returns is published to message.results. The commands of one fetch run concurrently;
a partition's offset is committed (``{tp: last.offset + 1}``) only once every outcome
of its records is acknowledged by Kafka. A partition whose processing failed is
sought back to its first record and fetched again: the ledger makes that harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.sender.settings import SenderSettings
from shared.dlq import send_to_dlq
from shared.events import EventDecodeError, decode, encode
from shared.events.models import MessageOutcome, SendMessage, SendMessageBatch
from shared.kafka import make_consumer
from shared.topics import Topics

log = logging.getLogger(__name__)

SOURCE = "/services/sender"
FETCH_TIMEOUT_MS = 500
# After an unexpected error in the loop, wait this long before fetching again.
LOOP_ERROR_PAUSE_S = 1.0

Handle = Callable[[SendMessage], Awaitable[MessageOutcome | None]]


def group_id(settings: SenderSettings) -> str:
    return f"{settings.kafka_topic_prefix}sender"


class _CommitOnRevoke(ConsumerRebalanceListener):
    def __init__(self, owner: CommandConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Only what is finished: work still in flight for these partitions completes,
        # is not committed by us, and its new owner re-emits the ledger's outcome.
        await self._owner.commit_done(only=revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": sorted(str(tp) for tp in assigned)})


class CommandConsumer:
    def __init__(
        self, settings: SenderSettings, producer: AIOKafkaProducer, handle: Handle
    ) -> None:
        self._topics = Topics.from_settings(settings)
        self._producer = producer
        self._handle = handle
        self._max_records = settings.sender_fetch_max_records
        self._consumer = make_consumer(
            settings,
            group_id=group_id(settings),
            max_poll_interval_ms=settings.sender_max_poll_interval_ms,
        )
        # Next offsets whose records are fully processed and acknowledged, not yet committed.
        self._done: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Commands taken from Kafka whose outcome is not yet published (for probes and tests).
        self.commands_in_flight = 0
        self._command_slots = asyncio.Semaphore(settings.sender_max_commands_in_flight)

    async def start(self) -> None:
        self._consumer.subscribe([self._topics.message_commands], listener=_CommitOnRevoke(self))
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="sender-consume")

    async def stop(self, drain_timeout_s: float) -> None:
        """Stop fetching, let in-flight commands finish (bounded), commit, leave the group."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), drain_timeout_s)
            except TimeoutError:
                log.warning("in-flight sends did not finish in time: cancelled")
                self._task.cancel()
            # The loop logs its own errors; here only its end matters.
            await asyncio.gather(self._task, return_exceptions=True)
        await self.commit_done()
        await self._consumer.stop()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batches = await self._consumer.getmany(
                    timeout_ms=FETCH_TIMEOUT_MS, max_records=self._max_records
                )
                if batches:
                    await asyncio.gather(
                        *(self._process_partition(tp, records) for tp, records in batches.items())
                    )
                await self.commit_done()
            except Exception:
                log.exception("sender loop error; fetching again shortly")
                await asyncio.sleep(LOOP_ERROR_PAUSE_S)

    async def commit_done(self, only: set[TopicPartition] | None = None) -> None:
        assigned = self._consumer.assignment()
        offsets = {
            tp: offset
            for tp, offset in self._done.items()
            if tp in assigned and (only is None or tp in only)
        }
        for tp in offsets:
            del self._done[tp]
        # Partitions no longer ours are dropped: their new owner commits them.
        for tp in [tp for tp in self._done if tp not in assigned]:
            del self._done[tp]
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:
            # The records come again after the rebalance; the ledger makes that harmless.
            log.warning("commit failed", extra={"error": repr(error)})

    async def _process_partition(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        try:
            results = await asyncio.gather(
                *(self._process_record(record) for record in records), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]
        except Exception as error:
            log.error(
                "records not processed; fetching them again",
                extra={"partition": str(tp), "offset": records[0].offset, "error": repr(error)},
                exc_info=error,
            )
            if tp in self._consumer.assignment():
                self._consumer.seek(tp, records[0].offset)
            await asyncio.sleep(LOOP_ERROR_PAUSE_S)
            return
        self._done[tp] = records[-1].offset + 1

    async def _process_record(self, record: ConsumerRecord) -> None:
        commands = await self._commands_of(record)
        await asyncio.gather(*(self._handle_and_publish(command) for command in commands))

    async def _commands_of(self, record: ConsumerRecord) -> list[SendMessage]:
        """The record's commands; a record that is not one goes to the DLQ."""
        reason: str
        try:
            event = decode(record.value)
        except EventDecodeError as error:
            reason = str(error)
        else:
            if isinstance(event, SendMessageBatch):
                return list(event.commands)
            if isinstance(event, SendMessage):
                return [event]
            reason = f"unexpected event type {event.type} on {record.topic}"  # type: ignore[attr-defined]
        await send_to_dlq(
            self._producer,
            self._topics.message_dlq,
            value=record.value,
            key=record.key,
            reason=reason,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            source=SOURCE,
        )
        return []

    async def _handle_and_publish(self, command: SendMessage) -> None:
        async with self._command_slots:
            self.commands_in_flight += 1
            try:
                await self._publish(command, await self._handle(command))
            finally:
                self.commands_in_flight -= 1

    async def _publish(self, command: SendMessage, outcome: MessageOutcome | None) -> None:
        if outcome is None:
            return
        value, headers = encode(outcome, source=SOURCE)
        delivery = await self._producer.send(
            self._topics.message_results,
            value,
            key=command.campaign_id.encode(),
            headers=headers,
        )
        await delivery
