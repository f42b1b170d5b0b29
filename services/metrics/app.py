"""The metrics service: message.results folded into progress, message.status into funnels.

Two consumer groups, one loop each: a burst of delivery receipts (three or four per
message) never delays the progress counts that pacing and completion depend on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from redis.exceptions import RedisError

from services.metrics.fold import ProgressFolder, Retention
from services.metrics.receipts import ReceiptFolder
from services.metrics.settings import MetricsSettings
from shared.dlq import send_to_dlq
from shared.events import Event, EventDecodeError, decode
from shared.kafka import make_consumer
from shared.redis import Keys
from shared.runtime import Service
from shared.store.campaigns import CampaignStore
from shared.store.funnel import FunnelStore
from shared.store.progress import ProgressStore
from shared.store.stats import StatsStore
from shared.topics import Topics
from shared.tracing import consuming

log = logging.getLogger(__name__)
RETRY_DELAY_S = 1.0
Fold = Callable[[Event], Awaitable[bool]]
AfterBatch = Callable[[], Awaitable[None]]


class MetricsService(Service):
    name = "metrics"

    def __init__(self, settings: MetricsSettings) -> None:
        super().__init__(settings)
        keys = Keys(settings.redis_key_prefix)
        redis = self.connections.redis
        retention = Retention(
            progress_ttl_s=settings.progress_ttl_s,
            results_ttl_s=settings.results_ttl_s,
            completed_jobs_kept=settings.completed_jobs_kept,
            failed_jobs_kept=settings.failed_jobs_kept,
        )
        self.folder = ProgressFolder(
            ProgressStore(redis, keys),
            CampaignStore(redis, keys),
            retention,
            StatsStore(redis, keys),
        )
        self._topics = Topics.from_settings(settings)
        self.consumer: AIOKafkaConsumer = make_consumer(
            settings,
            self._topics.message_results,
            group_id=f"{settings.kafka_topic_prefix}metrics",
            max_poll_records=1_000,
        )
        self.receipts = ReceiptFolder(FunnelStore(redis, keys), retention.progress_ttl_s)
        self.status_consumer: AIOKafkaConsumer = make_consumer(
            settings,
            self._topics.message_status,
            group_id=f"{settings.kafka_topic_prefix}metrics-status",
            max_poll_records=1_000,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start_work(self) -> None:
        await self.consumer.start()
        await self.status_consumer.start()
        self._tasks = [
            asyncio.create_task(
                self._consume(self.consumer, self.folder.fold, self.folder.flush_stats),
                name="metrics-consume",
            ),
            asyncio.create_task(
                self._consume(self.status_consumer, self.receipts.fold), name="metrics-receipts"
            ),
        ]

    async def stop_work(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks)
        await self.consumer.stop()
        await self.status_consumer.stop()

    async def _consume(
        self, consumer: AIOKafkaConsumer, fold: Fold, after_batch: AfterBatch | None = None
    ) -> None:
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            if not batches:
                continue
            try:
                for records in batches.values():
                    for record in records:
                        await self._fold(record, fold)
                if after_batch is not None:
                    await after_batch()
            except (RedisError, OSError) as error:
                # Nothing of this batch is committed: read it again once Redis answers.
                # Results already folded are counted once anyway.
                log.warning("cannot fold results, retrying", extra={"reason": str(error)})
                for tp, records in batches.items():
                    consumer.seek(tp, records[0].offset)
                await asyncio.sleep(RETRY_DELAY_S)
                continue
            # Offsets move only after every result of the batch is in Redis.
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})

    async def _fold(self, record: ConsumerRecord, fold: Fold) -> None:
        try:
            event = decode(record.value)
        except EventDecodeError as error:
            await send_to_dlq(
                self.connections.producer,
                self._topics.message_dlq,
                value=record.value,
                key=record.key,
                reason=str(error),
                source_topic=record.topic,
                source_partition=record.partition,
                source_offset=record.offset,
                source="/services/metrics",
            )
            return
        with consuming(
            f"fold {event.type}",  # type: ignore[attr-defined]
            record.headers,
            topic=record.topic,
            attributes={"campaign.id": getattr(event, "campaign_id", "") or ""},
        ):
            await fold(event)
