"""Fixtures for the sender's tests: a running sender, the sandbox's admin API, topic readers.

Every fixture stops or closes what it started. The sandbox is shared by the session:
each test sends from its own From number and reads the sandbox ledger filtered by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from services.sender.app import SenderService
from services.sender.settings import SenderSettings
from shared.events import EventDecodeError, decode, encode
from shared.events.models import Event, SendMessage, SendMessageBatch, TextContent
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.topics import Topics

# Limits far above what a test sends, for tests that are not about the rate.
FAST_LIMITS: dict[str, object] = {
    "twilio_rate_limit_per_second": 500,
    "twilio_rate_limit_per_minute": 100_000,
    "twilio_rate_limit_per_hour": 1_000_000,
}


def digits_of(prefix: str, count: int) -> str:
    """Digits derived from this test's unique prefix: numbers no other test uses."""
    number = int(hashlib.sha256(prefix.encode()).hexdigest(), 16)
    return str(number % 10**count).zfill(count)


@dataclass(frozen=True)
class Numbers:
    """This test's sender number and a recipient factory (suffixes 0000-0005 mean faults)."""

    seed: str

    @property
    def sender(self) -> str:
        return f"whatsapp:+1555{self.seed[:7]}"

    def recipient(self, index: int, suffix: str | None = None) -> str:
        ending = suffix if suffix is not None else f"{index + 100:04d}"
        return f"whatsapp:+1777{self.seed[7:10]}{index % 1000:03d}{ending}"


@pytest.fixture
def numbers(unique_prefix: str) -> Numbers:
    return Numbers(digits_of(unique_prefix, 10))


def now_ms() -> int:
    return int(time.time() * 1000)


def text_command(
    campaign_id: str, contact_id: str, to: str, sender: str, *, batch_index: int = 0
) -> SendMessage:
    return SendMessage(
        campaign_id=campaign_id,
        contact_id=contact_id,
        to=to,
        from_number=sender,
        content=TextContent(body=f"Hello {contact_id} from {campaign_id}"),
        batch_index=batch_index,
    )


def batches_of(campaign_id: str, commands: list[SendMessage], size: int) -> list[SendMessageBatch]:
    return [
        SendMessageBatch(
            campaign_id=campaign_id,
            batch_index=start // size,
            commands=commands[start : start + size],
        )
        for start in range(0, len(commands), size)
    ]


class SandboxAdmin:
    """The sandbox's /_sandbox API; faults changed through it are reset at teardown."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def set_faults(self, **faults: object) -> None:
        (await self.client.post("/_sandbox/faults", json=faults)).raise_for_status()

    async def reset_faults(self) -> None:
        (await self.client.delete("/_sandbox/faults")).raise_for_status()

    async def ledger_from(self, sender: str, since_ms: int) -> list[dict]:
        response = await self.client.get("/_sandbox/ledger", params={"since_ms": since_ms})
        response.raise_for_status()
        return [m for m in response.json()["messages"] if m["from"] == sender]

    async def response_counts(self) -> dict[str, int]:
        response = await self.client.get("/_sandbox/stats")
        response.raise_for_status()
        return response.json()["responses"]


@pytest_asyncio.fixture
async def sandbox(stack) -> AsyncIterator[SandboxAdmin]:
    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=10) as client:
        admin = SandboxAdmin(client)
        await admin.reset_faults()
        try:
            yield admin
        finally:
            await admin.reset_faults()


@pytest.fixture
def sender_settings(make_settings) -> Callable[..., SenderSettings]:
    """Sender settings for this test: fast retries, no fixed health port, then overrides."""

    def build(**overrides: object) -> SenderSettings:
        values: dict[str, object] = {
            "health_port": 0,
            "send_retry_base_delay_ms": 20,
            "send_retry_max_delay_ms": 200,
            "sender_drain_timeout_s": 10,
        }
        values.update(overrides)
        return make_settings(SenderSettings, **values)

    return build


@pytest_asyncio.fixture
async def start_sender() -> AsyncIterator[Callable[[SenderSettings], Awaitable[SenderService]]]:
    started: list[SenderService] = []

    async def start(settings: SenderSettings) -> SenderService:
        service = SenderService(settings)
        started.append(service)
        await service.start()
        return service

    try:
        yield start
    finally:
        for service in reversed(started):
            await service.stop()


@dataclass
class TopicReader:
    """Everything published on one topic since the reader started, decoded where possible."""

    consumer: AIOKafkaConsumer
    records: list[ConsumerRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    task: asyncio.Task | None = None

    async def _poll(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    self.records.append(record)
                    with contextlib.suppress(EventDecodeError):
                        self.events.append(decode(record.value))

    def of_type(self, event_type: type[Event]) -> list:
        return [event for event in self.events if isinstance(event, event_type)]


@pytest_asyncio.fixture
async def read_topic() -> AsyncIterator[Callable[[SenderSettings, str], Awaitable[TopicReader]]]:
    readers: list[TopicReader] = []

    async def start(settings: SenderSettings, topic: str) -> TopicReader:
        await ensure_topics(settings)
        reader = TopicReader(make_consumer(settings, topic, group_id=None))
        readers.append(reader)
        await reader.consumer.start()
        reader.task = asyncio.create_task(reader._poll())
        return reader

    try:
        yield start
    finally:
        for reader in readers:
            if reader.task is not None:
                reader.task.cancel()
                await asyncio.gather(reader.task, return_exceptions=True)
            await reader.consumer.stop()


@pytest_asyncio.fixture
async def command_producer(
    make_settings,
) -> AsyncIterator[Callable[[SenderSettings], Awaitable[CommandProducer]]]:
    producers: list[AIOKafkaProducer] = []

    async def start(settings: SenderSettings) -> CommandProducer:
        producer = make_producer(settings)
        producers.append(producer)
        await producer.start()
        return CommandProducer(producer, Topics.from_settings(settings))

    try:
        yield start
    finally:
        for producer in producers:
            await producer.stop()


@dataclass
class CommandProducer:
    producer: AIOKafkaProducer
    topics: Topics

    async def publish(self, event: SendMessage | SendMessageBatch) -> None:
        value, headers = encode(event, source="/tests/sender")
        await self.producer.send_and_wait(
            self.topics.message_commands, value, key=event.campaign_id.encode(), headers=headers
        )

    async def publish_raw(self, value: bytes, key: bytes | None = None) -> None:
        await self.producer.send_and_wait(self.topics.message_commands, value, key=key)
