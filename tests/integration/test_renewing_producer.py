"""A producer whose sequence numbers the broker no longer accepts replaces itself.

After a broker restart aiokafka's idempotent producer can be left numbering a
partition's batches past what the broker holds; the broker then answers every batch
with OUT_OF_ORDER_SEQUENCE_NUMBER (a fault-suite run saw 15,000 such failures a
sender over four minutes). Here the same state is made on purpose, on the real
broker, by moving the producer's next sequence number ahead of the broker's.
"""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.errors import OutOfOrderSequenceNumber

from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.topics import TopicSpec
from tests.helpers import eventually
from tests.kafka_io import drain


async def test_a_producer_out_of_sequence_is_replaced_and_sends_again(make_settings) -> None:
    settings = make_settings()
    topic = f"{settings.kafka_topic_prefix}renewal"
    await ensure_topics(settings, [TopicSpec(topic, 1)])
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"before", partition=0)
        # What batches lost at a broker restart leave behind: the producer's next
        # sequence number is ahead of the one the broker expects.
        sequences = producer._current._txn_manager
        sequences.increment_sequence_number(TopicPartition(topic, 0), 3)
        first_id = sequences.producer_id

        refused = None
        try:
            await producer.send_and_wait(topic, b"refused", partition=0)
        except OutOfOrderSequenceNumber as error:
            refused = error
        assert refused is not None, "the broker took a batch out of sequence"

        async def sends_again() -> bool:
            try:
                await producer.send_and_wait(topic, b"after", partition=0)
            except OutOfOrderSequenceNumber:
                return False
            return True

        await eventually(sends_again, timeout_s=30, what="a send after the sequence was lost")
        assert producer.renewals == 1
        assert producer._current._txn_manager.producer_id != first_id
    finally:
        await producer.stop()

    consumer = make_consumer(settings, topic, group_id=f"{settings.kafka_topic_prefix}check")
    await consumer.start()
    try:
        assert [record.value for record in await drain(consumer, 2)] == [b"before", b"after"]
    finally:
        await consumer.stop()
