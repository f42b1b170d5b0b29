"""Publishing events to the real broker and reading topics back, for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer

from shared.events import Event, decode, encode
from shared.kafka import make_consumer, make_producer
from shared.settings import Settings
from tests.helpers import eventually


async def publish(settings: Settings, topic: str, key: str, *events: Event) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for event in events:
            value, headers = encode(event, source="/tests")
            await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


async def publish_raw(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def drain(consumer: AIOKafkaConsumer, want: int, timeout_s: float = 20) -> list:
    """Raw records from ``consumer`` until there are at least ``want``."""
    received: list = []

    async def more() -> bool:
        batches = await consumer.getmany(timeout_ms=200)
        for records in batches.values():
            received.extend(records)
        return len(received) >= want

    await eventually(more, timeout_s=timeout_s, what=f"{want} records")
    return received


class TopicReader:
    """Reads a topic from the beginning and keeps every decoded event."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.events: list[Event] = []

    async def until(
        self, condition: Callable[[list[Event]], bool], *, what: str, timeout_s: float = 30
    ) -> list[Event]:
        async def poll() -> bool:
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                self.events.extend(decode(record.value) for record in records)
            return condition(self.events)

        await eventually(poll, timeout_s=timeout_s, what=what, interval_s=0)
        return self.events


@asynccontextmanager
async def reading(settings: Settings, topic: str) -> AsyncIterator[TopicReader]:
    consumer = make_consumer(settings, topic, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        yield TopicReader(consumer)
    finally:
        await consumer.stop()
