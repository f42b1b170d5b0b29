"""Consumer lag of the system's groups: committed offsets against the topics' end offsets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.kafka import make_admin
from shared.settings import Settings
from shared.topics import Topics

log = logging.getLogger(__name__)

GroupLag = dict[str, dict[str, int]]  # group -> topic -> messages not yet consumed


def group_topics(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Each consumer group of the system and the topic it works through."""
    topics = Topics.from_settings(settings)
    prefix = settings.kafka_topic_prefix
    return {
        f"{prefix}sender": (topics.message_commands,),
        f"{prefix}metrics": (topics.message_results,),
        f"{prefix}metrics-status": (topics.message_status,),
        f"{prefix}dispatcher": (topics.campaign_events,),
    }


def lag_by_topic(lag: GroupLag) -> dict[str, int]:
    """One number per topic: the largest backlog of any group reading it."""
    by_topic: dict[str, int] = {}
    for topics in lag.values():
        for topic, behind in topics.items():
            by_topic[topic] = max(behind, by_topic.get(topic, 0))
    return by_topic


def compute_lag(
    wanted: Mapping[str, tuple[str, ...]],
    end_offsets: Mapping[TopicPartition, int],
    committed: Mapping[str, Mapping[TopicPartition, int]],
) -> GroupLag:
    """A partition without a commit counts from offset 0 (groups start at the earliest)."""
    lag: GroupLag = {}
    for group, topics in wanted.items():
        offsets = committed.get(group, {})
        lag[group] = {
            topic: sum(
                max(0, end - max(0, offsets.get(tp, 0)))
                for tp, end in end_offsets.items()
                if tp.topic == topic
            )
            for topic in topics
        }
    return lag


class ConsumerLagMonitor:
    """Asks Kafka at most once per ``cache_s``; Kafka clients are opened on first use."""

    def __init__(self, settings: Settings, cache_s: float) -> None:
        self._settings = settings
        self._wanted = group_topics(settings)
        self._cache_s = cache_s
        self._lock = asyncio.Lock()
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._cached: GroupLag | None = None
        self._cached_at = 0.0
        # (group, topic, partition) -> lag, from the same reading as the cached totals.
        self.by_partition: dict[tuple[str, str, int], int] = {}

    async def lag(self) -> GroupLag | None:
        """The current lag, or the last one known (None if never) when Kafka does not answer."""
        async with self._lock:
            if self._cached is not None and time.monotonic() - self._cached_at < self._cache_s:
                return self._cached
            try:
                self._cached = await asyncio.wait_for(self._read(), timeout=10)
                self._cached_at = time.monotonic()
            except (KafkaError, OSError, TimeoutError) as error:
                log.warning("cannot read consumer lag", extra={"reason": repr(error)})
            return self._cached

    async def _read(self) -> GroupLag:
        admin, consumer = await self._clients()
        topics = sorted({topic for topics in self._wanted.values() for topic in topics})
        described = await admin.describe_topics(topics)
        partitions = [
            TopicPartition(d["topic"], p["partition"])
            for d in described
            if d["error_code"] == 0
            for p in d["partitions"]
        ]
        end_offsets = await consumer.end_offsets(partitions) if partitions else {}
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in self._wanted:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items()}
        self.by_partition = {
            (group, tp.topic, tp.partition): max(0, end - max(0, committed[group].get(tp, 0)))
            for group, topics in self._wanted.items()
            for tp, end in end_offsets.items()
            if tp.topic in topics
        }
        return compute_lag(self._wanted, end_offsets, committed)

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None:
            admin = make_admin(self._settings)
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
            )
            await consumer.start()
            self._consumer = consumer
        return self._admin, self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
