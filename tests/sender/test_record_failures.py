"""A record that keeps failing the same way is set aside; an outage never sets work aside.

The consumer runs against the real Kafka with a handler that fails on purpose: the
handler is the consumer's seam, and what is under test is what the consumer does
with its failures (count, dead-letter, commit), not the sending.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer, TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError

from services.sender.consumer import CommandConsumer, group_id
from shared.events.models import DeadLetter, MessageFailed, MessageSent, SendMessage
from shared.kafka import make_consumer, make_producer
from shared.topics import Topics
from tests.helpers import eventually
from tests.sender.conftest import batches_of, text_command

TIMEOUT_S = 60


async def _committed(settings, topic: str) -> int | None:
    """The sender group's committed offset of the topic's only partition."""
    consumer = make_consumer(settings, group_id=group_id(settings))
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


class _Failing:
    """A handler that raises ``error`` for the first ``times`` calls (forever when None)."""

    def __init__(self, error: Exception, times: int | None = None) -> None:
        self.error = error
        self.times = times
        self.calls = 0

    async def __call__(self, command: SendMessage) -> MessageSent:
        self.calls += 1
        if self.times is None or self.calls <= self.times:
            raise self.error
        return MessageSent(
            campaign_id=command.campaign_id,
            contact_id=command.contact_id,
            to=command.to,
            message_sid=f"SM{self.calls:032d}",
        )


async def _run_consumer(settings, handle) -> tuple[CommandConsumer, AIOKafkaProducer]:
    producer = make_producer(settings)
    await producer.start()
    consumer = CommandConsumer(settings, producer, handle)
    await consumer.start()
    return consumer, producer


async def test_a_record_failing_alike_n_times_is_dead_lettered_and_committed_past(
    sender_settings, read_topic, command_producer, numbers
):
    settings = sender_settings(sender_record_max_failures=2, message_commands_partitions=1)
    topics = Topics.from_settings(settings)
    dlq = await read_topic(settings, topics.message_dlq)
    results = await read_topic(settings, topics.message_results)
    commands = [
        text_command("camp-bad", f"c{i}", numbers.recipient(i), numbers.sender) for i in range(3)
    ]
    producer = await command_producer(settings)
    for batch in batches_of("camp-bad", commands, 3):
        await producer.publish(batch)
    handle = _Failing(ValueError("this command cannot be handled"))
    consumer, kafka = await _run_consumer(settings, handle)
    try:
        [letter] = await eventually(
            lambda: _now(dlq.of_type(DeadLetter)), timeout_s=TIMEOUT_S, what="a dead letter"
        )
        assert letter.source_topic == topics.message_commands
        assert letter.source_offset == 0
        assert "record failed 2 times in a row" in letter.reason
        assert "ValueError: this command cannot be handled" in letter.reason
        failed = await eventually(
            lambda: _now(results.of_type(MessageFailed)[2:] and results.of_type(MessageFailed)),
            timeout_s=TIMEOUT_S,
            what="the record's three contacts failed",
        )
        assert {event.contact_id for event in failed} == {"c0", "c1", "c2"}
        assert all(not event.retryable and event.error_code is None for event in failed)
        assert all("ValueError" in event.error_message for event in failed)
        assert handle.calls == 2 * 3  # each try handles the record's three commands
    finally:
        await consumer.stop(drain_timeout_s=5)
        await kafka.stop()
    assert await _committed(settings, topics.message_commands) == 1


async def test_an_outage_however_long_never_dead_letters_a_record(
    sender_settings, read_topic, command_producer, numbers
):
    settings = sender_settings(sender_record_max_failures=2, message_commands_partitions=1)
    topics = Topics.from_settings(settings)
    dlq = await read_topic(settings, topics.message_dlq)
    results = await read_topic(settings, topics.message_results)
    command = text_command("camp-outage", "c0", numbers.recipient(0), numbers.sender)
    producer = await command_producer(settings)
    await producer.publish(command)
    # Twice the limit of failures in a row, all of them Redis being away.
    handle = _Failing(RedisConnectionError("Connection refused"), times=4)
    consumer, kafka = await _run_consumer(settings, handle)
    try:
        [sent] = await eventually(
            lambda: _now(results.of_type(MessageSent)),
            timeout_s=TIMEOUT_S,
            what="the command sent once the outage is over",
        )
        assert sent.contact_id == "c0"
        assert handle.calls == 5
        assert dlq.of_type(DeadLetter) == []
        assert results.of_type(MessageFailed) == []
    finally:
        await consumer.stop(drain_timeout_s=5)
        await kafka.stop()
    assert await _committed(settings, topics.message_commands) == 1


async def _now(value):
    """``eventually`` awaits its probe; the readers' lists fill in the background."""
    return value
