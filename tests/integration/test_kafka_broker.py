"""The real broker works with the clients the services use: aiokafka groups and faust."""

from __future__ import annotations

import uuid

import faust
from aiokafka import TopicPartition

from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.topics import TopicSpec
from tests.helpers import eventually
from tests.kafka_io import drain


async def test_group_consumer_resumes_after_its_committed_offsets(make_settings) -> None:
    settings = make_settings()
    topic = f"{settings.kafka_topic_prefix}broker-check"
    await ensure_topics(settings, [TopicSpec(topic, 3)])
    producer = make_producer(settings)
    await producer.start()
    try:
        for number in range(30):
            await producer.send_and_wait(topic, f"v{number}".encode(), key=f"k{number}".encode())
    finally:
        await producer.stop()

    group = f"{settings.kafka_topic_prefix}group"
    first = make_consumer(settings, topic, group_id=group)
    await first.start()
    try:
        records = await drain(first, 30)
        assert sorted(r.value for r in records) == sorted(f"v{n}".encode() for n in range(30))
        # Commit only the first 10 records of every partition (or all of a shorter one).
        by_partition: dict[int, list] = {}
        for record in records:
            by_partition.setdefault(record.partition, []).append(record)
        commit = {
            TopicPartition(topic, p): rs[min(9, len(rs) - 1)].offset + 1
            for p, rs in by_partition.items()
        }
        await first.commit(commit)
        committed = {tp: await first.committed(tp) for tp in commit}
        assert committed == commit
    finally:
        await first.stop()

    expected_rest = sorted(r.value for rs in by_partition.values() for r in rs[min(10, len(rs)) :])
    second = make_consumer(settings, topic, group_id=group)
    await second.start()
    try:
        rest = await drain(second, len(expected_rest)) if expected_rest else []
        assert sorted(r.value for r in rest) == expected_rest
    finally:
        await second.stop()


async def test_faust_agent_and_table_run_on_the_broker(make_settings) -> None:
    settings = make_settings()
    topic_name = f"{settings.kafka_topic_prefix}faust-in"
    await ensure_topics(settings, [TopicSpec(topic_name, 1)])
    app = faust.App(
        f"{settings.kafka_topic_prefix}faust-check-{uuid.uuid4().hex[:6]}",
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        store="memory://",
        web_enabled=False,
        topic_partitions=1,
        datadir=f"/tmp/{settings.kafka_topic_prefix}faust",
    )
    source = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=1)

    @app.agent(source)
    async def count(stream):
        async for event in stream.events():
            counts[event.key.decode()] += 1

    await app.start()
    try:
        producer = make_producer(settings)
        await producer.start()
        try:
            for key in (b"a", b"b", b"a", b"a"):
                await producer.send_and_wait(topic_name, b"x", key=key)
        finally:
            await producer.stop()

        async def counted() -> bool:
            return counts["a"] == 3 and counts["b"] == 1

        await eventually(counted, timeout_s=30, what="faust table counts a=3, b=1")
        # The table is backed by a changelog topic on the broker.
        assert app.tables["counts"].changelog_topic.get_topic_name().endswith("counts-changelog")
    finally:
        await app.stop()
