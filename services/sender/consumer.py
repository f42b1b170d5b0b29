"""The Kafka side of the sender: commands in, outcomes out, offsets committed after both.

Knows nothing of Twilio: each SendMessage goes to ``handle``, and the outcome it
returns is published to message.results.

It reads ahead. A campaign held to its number's rate can fill the head of every
partition for minutes; fetching nothing more until it is done would hold back every
campaign behind it, and the handler could only be fair among what it was given. So
each record is processed as soon as it is fetched, and fetching goes on until
``sender_max_buffered_commands`` commands wait for their outcome.

Records then finish out of order, while Kafka keeps one position per partition: the
commit is a partition's lowest unfinished offset, so a crash repeats work but never
skips it. A failed record is retried where it stands, since seeking back would repeat
all that was fetched after it; one that fails SENDER_RECORD_MAX_FAILURES times in a row
for a reason other than an outage (shared/outages.py) goes to the DLQ, its unsent
contacts failed with the reason, so that it cannot hold its partition's commits
forever. Revoked partitions are forgotten: work still running for them ends
unrecorded, and a later assignment starts afresh. Whatever is repeated the ledger
makes harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.sender.outcomes import OutcomePublisher
from services.sender.set_aside import dead_letter, failed_for
from services.sender.settings import SenderSettings
from shared.events import EventDecodeError, decode
from shared.events.models import MessageFailed, MessageOutcome, SendMessage, SendMessageBatch
from shared.kafka import make_consumer
from shared.outages import is_outage, summarise
from shared.renewing_producer import RenewingProducer
from shared.retry import Backoff, sleep_unless
from shared.topics import Topics
from shared.tracing import consuming, message_span, trace_failure, tracer

log = logging.getLogger(__name__)
_tracer = tracer(__name__)

SOURCE = "/services/sender"
FETCH_TIMEOUT_MS = 500
# After an error in the loop or in a record: soon at first, a blip passes; then at
# most every 2 s, so that a long outage is not hammered by every record at once.
RETRY_BACKOFF = Backoff(base_delay_ms=250, max_delay_ms=2_000)
# Commits of finished records: at most this often.
COMMIT_INTERVAL_S = 0.2
# With the buffer full, look this often whether the consumer is stopping.
ROOM_WAIT_S = 0.2

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
        self._owner.forget(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": sorted(str(tp) for tp in assigned)})


class _Partition:
    """The records of one partition taken in during one assignment of it."""

    def __init__(self) -> None:
        self.unfinished: set[int] = set()
        # The offset after the last record taken in; None before the first.
        self.end: int | None = None
        self.committed: int | None = None

    def take(self, offset: int) -> None:
        self.unfinished.add(offset)
        self.end = max(self.end or 0, offset + 1)

    def finish(self, offset: int) -> None:
        self.unfinished.discard(offset)

    def position(self) -> int | None:
        """Where a new owner must start: every record before it is finished."""
        return min(self.unfinished) if self.unfinished else self.end


@dataclass(eq=False, slots=True)
class _Record:
    """A record taken in: its partition's tracking, and what is left to do for it."""

    tp: TopicPartition
    offset: int
    partition: _Partition
    # Commands whose outcome is not published yet, by index in the record.
    unpublished: dict[int, SendMessage] = field(default_factory=dict)
    # A record that is not a command, and why: for the DLQ.
    dead_letter: tuple[ConsumerRecord, str] | None = None
    # Its trace context, continued by the sends and their outcomes.
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    # The record as fetched, for the DLQ should it keep failing.
    source: ConsumerRecord | None = None
    # Failures in a row that were not outages.
    failures: int = 0


class CommandConsumer:
    """The fetch loop, the records in flight and the commits of their partitions.

    Longer than most classes on purpose: the loop, the record tasks, the rebalance
    listener and the commits all read and change the same per-partition tracking,
    and the rule that makes a crash harmless (commit a partition's lowest unfinished
    offset) is kept by keeping that tracking in one object.
    """

    def __init__(
        self, settings: SenderSettings, producer: RenewingProducer, handle: Handle
    ) -> None:
        self._topics = Topics.from_settings(settings)
        self._producer = producer
        self._handle = handle
        self._outcomes = OutcomePublisher(producer, self._topics.message_results, SOURCE)
        self._max_records = settings.sender_fetch_max_records
        self._max_buffered = settings.sender_max_buffered_commands
        self._max_failures = settings.sender_record_max_failures
        self._consumer = make_consumer(
            settings,
            group_id=group_id(settings),
            max_poll_interval_ms=settings.sender_max_poll_interval_ms,
        )
        # Tracking of the partitions assigned to us; an entry is replaced, never
        # reused, when the partition is revoked and assigned again.
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._record_tasks: set[asyncio.Task[None]] = set()
        self._commit_lock = asyncio.Lock()
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Commands taken from Kafka whose outcome is not yet published (for probes and tests).
        self.commands_in_flight = 0

    async def start(self) -> None:
        self._consumer.subscribe([self._topics.message_commands], listener=_CommitOnRevoke(self))
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="sender-consume")

    async def stop(self, drain_timeout_s: float) -> None:
        """Stop fetching, let in-flight records finish (bounded), commit, leave the group."""
        self._stopping.set()
        deadline = time.monotonic() + drain_timeout_s
        if self._task is not None:
            # The loop ends within one fetch; it logs its own errors.
            await asyncio.wait([self._task], timeout=drain_timeout_s)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._record_tasks:
            _, late = await asyncio.wait(
                list(self._record_tasks), timeout=max(0.0, deadline - time.monotonic())
            )
            if late:
                log.warning("in-flight sends did not finish in time: cancelled")
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        await self.commit_done()
        await self._consumer.stop()

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop the tracking of partitions no longer ours; their tasks give up on retries."""
        for tp in partitions:
            self._partitions.pop(tp, None)

    async def commit_done(self, only: set[TopicPartition] | None = None) -> None:
        async with self._commit_lock:
            assigned = self._consumer.assignment()
            # Partitions no longer ours are dropped: their new owner commits them.
            self.forget({tp for tp in self._partitions if tp not in assigned})
            changed = {
                tp: (partition, position)
                for tp, partition in self._partitions.items()
                if (only is None or tp in only)
                and (position := partition.position()) is not None
                and position != partition.committed
            }
            if not changed:
                return
            try:
                await self._consumer.commit({tp: position for tp, (_, position) in changed.items()})
            except KafkaError as error:
                # The records come again after the rebalance; the ledger makes that harmless.
                log.warning("commit failed", extra={"error": repr(error)})
                return
            for partition, position in changed.values():
                partition.committed = position

    async def _run(self) -> None:
        next_commit_at = 0.0
        errors_in_a_row = 0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_commit_at:
                    next_commit_at = time.monotonic() + COMMIT_INTERVAL_S
                    await self.commit_done()
                if self.commands_in_flight >= self._max_buffered:
                    self._room.clear()
                    await sleep_unless(self._room, ROOM_WAIT_S)
                    continue
                batches = await self._consumer.getmany(
                    timeout_ms=FETCH_TIMEOUT_MS, max_records=self._max_records
                )
                if self._stopping.is_set():
                    break  # not taken in, so not committed: fetched again by the next owner
                for tp, records in batches.items():
                    for record in records:
                        self._take(tp, record)
                errors_in_a_row = 0
            except Exception:
                log.exception("sender loop error; fetching again shortly")
                errors_in_a_row += 1
                await sleep_unless(self._stopping, RETRY_BACKOFF.delay_s(errors_in_a_row))

    def _take(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        partition = self._partitions.setdefault(tp, _Partition())
        partition.take(record.offset)
        taken = _Record(
            tp, record.offset, partition, headers=list(record.headers or ()), source=record
        )
        commands_or_reason = self._commands_of(record)
        if isinstance(commands_or_reason, str):
            taken.dead_letter = (record, commands_or_reason)
        else:
            taken.unpublished = dict(enumerate(commands_or_reason))
            self.commands_in_flight += len(taken.unpublished)
        task = asyncio.create_task(
            self._process(taken), name=f"sender-record-{tp.partition}-{record.offset}"
        )
        self._record_tasks.add(task)
        task.add_done_callback(self._record_tasks.discard)

    def _commands_of(self, record: ConsumerRecord) -> list[SendMessage] | str:
        """The record's commands, or why it is not a command and goes to the DLQ."""
        try:
            event = decode(record.value)
        except EventDecodeError as error:
            return str(error)
        if isinstance(event, SendMessageBatch):
            return list(event.commands)
        if isinstance(event, SendMessage):
            return [event]
        return f"unexpected event type {event.type} on {record.topic}"  # type: ignore[attr-defined]

    async def _process(self, taken: _Record) -> None:
        """Process a record until it is done, or until it is no longer ours to do."""
        tries = 0
        try:
            while True:
                tries += 1
                try:
                    await self._process_once(taken)
                except Exception as error:
                    # An outage is waited out however long it lasts: it says nothing bad
                    # about the record, and dead-lettering then would lose work.
                    taken.failures = 0 if is_outage(error) else taken.failures + 1
                    log.error(
                        "record not processed; trying it again shortly",
                        extra={
                            "partition": str(taken.tp),
                            "offset": taken.offset,
                            "failures": taken.failures,
                        },
                        exc_info=error,
                    )
                    if taken.failures >= self._max_failures and await self._set_aside(taken, error):
                        taken.partition.finish(taken.offset)
                        return
                else:
                    taken.partition.finish(taken.offset)
                    return
                if self._still_ours(taken):
                    await sleep_unless(self._stopping, RETRY_BACKOFF.delay_s(tries))
                if not self._still_ours(taken):
                    # Its partition's next owner (or our next start) processes it again.
                    log.warning(
                        "record given up: its partition is no longer ours or we stop",
                        extra={"partition": str(taken.tp), "offset": taken.offset},
                    )
                    return
        finally:
            self._release(len(taken.unpublished))
            taken.unpublished.clear()

    async def _process_once(self, taken: _Record) -> None:
        if taken.dead_letter is not None:
            record, reason = taken.dead_letter
            await dead_letter(self._producer, self._topics.message_dlq, record, reason)
            taken.dead_letter = None
        if not taken.unpublished:
            return
        with consuming(
            "process SendMessageBatch",
            taken.headers,
            topic=taken.tp.topic,
            attributes={
                "messaging.kafka.offset": taken.offset,
                "messaging.destination.partition.id": str(taken.tp.partition),
                "messaging.batch.message_count": len(taken.unpublished),
            },
        ):
            results = await asyncio.gather(
                *(self._handle_and_publish(taken, index) for index in list(taken.unpublished)),
                return_exceptions=True,
            )
        if taken.unpublished:
            errors = [result for result in results if isinstance(result, Exception)]
            if not errors:
                raise RuntimeError("commands left unpublished")
            # One outage among the errors makes the round an outage: it is not counted.
            raise next((error for error in errors if is_outage(error)), errors[0])

    async def _set_aside(self, taken: _Record, error: Exception) -> bool:
        """Fail the record's unsent contacts with the reason and dead-letter the record;
        False when that could not be done (it is then tried again like the record)."""
        reason = f"record failed {taken.failures} times in a row: {summarise(error)}"
        try:
            for index, command in list(taken.unpublished.items()):
                await self._outcomes.publish(failed_for(command, reason))
                del taken.unpublished[index]
                self._release(1)
            if taken.source is not None:
                await dead_letter(self._producer, self._topics.message_dlq, taken.source, reason)
        except Exception as set_aside_error:
            log.warning(
                "failing record not set aside; trying it again",
                extra={"partition": str(taken.tp), "offset": taken.offset},
                exc_info=set_aside_error,
            )
            return False
        log.error(
            "record dead-lettered after repeated failures",
            extra={"partition": str(taken.tp), "offset": taken.offset, "reason": reason},
        )
        return True

    async def _handle_and_publish(self, taken: _Record, index: int) -> None:
        command = taken.unpublished[index]
        attributes = {
            "campaign.id": command.campaign_id,
            "campaign.contact_id": command.contact_id,
            "messaging.message.attempt": command.attempt,
        }
        # One span a message, sampled (shared/tracing.py): it covers the send and the
        # outcome's publication, whose headers carry it on to the metrics fold.
        with message_span(_tracer, "send message", attributes=attributes) as span:
            outcome = await self._handle(command)
            if outcome is not None:
                span.set_attribute("campaign.outcome", outcome.type)  # type: ignore[attr-defined]
                if isinstance(outcome, MessageFailed):
                    trace_failure(
                        "message failed",
                        {**attributes, "twilio.error_code": outcome.error_code or 0},
                        error=outcome.error_message,
                    )
                await self._outcomes.publish(outcome)
        del taken.unpublished[index]
        self._release(1)

    def _still_ours(self, taken: _Record) -> bool:
        return (
            not self._stopping.is_set()
            and self._partitions.get(taken.tp) is taken.partition
            and taken.tp in self._consumer.assignment()
        )

    def _release(self, commands: int) -> None:
        self.commands_in_flight -= commands
        if self.commands_in_flight < self._max_buffered:
            self._room.set()
