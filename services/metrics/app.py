"""The metrics service: message.results folded into progress, message.status into funnels.

Two consumer groups, one loop each: a burst of delivery receipts (three or four per
message) never delays the progress counts that pacing and completion depend on.

Each loop works a poll batch at a time: records that are not events go to the DLQ,
the rest are folded in one Redis round trip, and only then are the batch's offsets
committed. A crash or a Redis failure before the commit means the batch is read
again; the folds count each result once, so nothing is counted twice or lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from services.metrics.fold import ProgressFolder, Retention
from services.metrics.receipts import ReceiptFolder
from services.metrics.settings import MetricsSettings
from services.metrics.spans import BatchSpans
from shared.dlq import send_to_dlq
from shared.events import Event, EventDecodeError, decode
from shared.health import Probe
from shared.kafka import make_consumer
from shared.outages import DATABASE_OUTAGES
from shared.redis import Keys
from shared.runtime import Service
from shared.store.campaigns import CampaignStore
from shared.store.funnel import FunnelStore
from shared.store.progress import ProgressStore
from shared.store.recipients import RecipientStore
from shared.store.stats import StatsStore
from shared.store.suppressions import SuppressionCache, SuppressionStore
from shared.topics import Topics

log = logging.getLogger(__name__)
RETRY_DELAY_S = 1.0
# The broker answers a fetch once about a hundred results wait, or after 50 ms: a
# fold costs a round trip and a commit whatever its size, and results that trickle in
# (Twilio answering in 100 ms, say) made poll batches of a few records each.
BATCHED_FETCH = {"fetch_min_bytes": 32 * 1024, "fetch_max_wait_ms": 50}
# Folds the events of a poll batch; returns how many changed a view.
FoldBatch = Callable[[Sequence[Event]], Awaitable[int]]
AfterBatch = Callable[[], Awaitable[None]]


class MetricsService(Service):
    name = "metrics"
    uses_database = True

    def __init__(self, settings: MetricsSettings) -> None:
        super().__init__(settings)
        keys = Keys(settings.redis_key_prefix)
        redis = self.connections.redis
        # Opened with the service's connections, after this is built.
        self.recipients = RecipientStore(lambda: self.connections.database)
        self._purge_interval_s = settings.recipients_purge_interval_s
        retention = Retention(
            progress_ttl_s=settings.progress_ttl_s,
            results_ttl_s=settings.results_ttl_s,
            completed_jobs_kept=settings.completed_jobs_kept,
            failed_jobs_kept=settings.failed_jobs_kept,
        )
        self.folder = ProgressFolder(
            ProgressStore(redis, keys),
            CampaignStore(lambda: self.connections.database, redis, keys),
            self.recipients,
            SuppressionStore(
                lambda: self.connections.database,
                SuppressionCache(redis, keys, settings.twilio_credentials[0]),
                settings.twilio_credentials[0],
            ),
            retention,
            StatsStore(redis, keys),
        )
        self._topics = Topics.from_settings(settings)
        self.consumer: AIOKafkaConsumer = make_consumer(
            settings,
            self._topics.message_results,
            group_id=f"{settings.kafka_topic_prefix}metrics",
            max_poll_records=1_000,
            **BATCHED_FETCH,
        )
        self.receipts = ReceiptFolder(
            FunnelStore(redis, keys), self.recipients, retention.progress_ttl_s
        )
        self.status_consumer: AIOKafkaConsumer = make_consumer(
            settings,
            self._topics.message_status,
            group_id=f"{settings.kafka_topic_prefix}metrics-status",
            max_poll_records=1_000,
            **BATCHED_FETCH,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def work_probes(self) -> dict[str, Probe]:
        return {"folding": self._loops_alive}

    async def _loops_alive(self) -> bool:
        """Every loop runs (or none was started yet, or they stop because asked)."""
        if self._stopping.is_set():
            return True
        for task in self._tasks:
            if task.done():
                if not task.cancelled() and task.exception() is not None:
                    log.error(
                        "metrics loop died",
                        extra={"loop": task.get_name(), "reason": repr(task.exception())},
                    )
                return False
        return True

    async def start_work(self) -> None:
        await self.consumer.start()
        await self.status_consumer.start()
        self._tasks = [
            asyncio.create_task(
                self._consume(
                    self.consumer,
                    "message.results",
                    self.folder.fold_batch,
                    self.folder.flush_stats,
                ),
                name="metrics-consume",
            ),
            asyncio.create_task(
                self._consume(self.status_consumer, "message.status", self.receipts.fold_batch),
                name="metrics-receipts",
            ),
            asyncio.create_task(self._purge_recipients(), name="metrics-recipients-purge"),
        ]

    async def stop_work(self) -> None:
        self._stopping.set()
        # A loop that died already (the health probe said so) must not stop the rest
        # from closing: its error is logged here.
        for task, outcome in zip(
            self._tasks, await asyncio.gather(*self._tasks, return_exceptions=True), strict=True
        ):
            if isinstance(outcome, Exception):
                log.error(
                    "metrics loop had died",
                    extra={"loop": task.get_name(), "reason": repr(outcome)},
                )
        await self.consumer.stop()
        await self.status_consumer.stop()

    async def _consume(
        self,
        consumer: AIOKafkaConsumer,
        topic_name: str,
        fold_batch: FoldBatch,
        after_batch: AfterBatch | None = None,
    ) -> None:
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            if not batches:
                continue
            try:
                await self._fold(topic_name, batches, fold_batch)
                if after_batch is not None:
                    await after_batch()
            except (RedisError, OSError, *DATABASE_OUTAGES) as error:
                # Nothing of this batch is committed: read it again once the stores answer.
                # Results already folded are counted once anyway.
                log.warning("cannot fold results, retrying", extra={"reason": str(error)})
                for tp, records in batches.items():
                    consumer.seek(tp, records[0].offset)
                await asyncio.sleep(RETRY_DELAY_S)
                continue
            # Offsets move only after every result of the batch is in Redis.
            try:
                await consumer.commit(
                    {tp: records[-1].offset + 1 for tp, records in batches.items()}
                )
            except KafkaError as error:
                # The group rebalanced under the batch (a broker or this consumer stalled):
                # its new owner reads it again and folds nothing twice. Seen as the death
                # of this loop when a broker was frozen for 30 s.
                log.warning("cannot commit folded results", extra={"reason": repr(error)})

    async def _purge_recipients(self) -> None:
        """Delete the recipients of campaigns whose retention has passed, a bounded
        number of rows at a time, until none is due; then wait for the next look."""
        while not self._stopping.is_set():
            try:
                while await self.recipients.purge_expired(datetime.now(UTC)):
                    if self._stopping.is_set():
                        return
            except (OSError, *DATABASE_OUTAGES) as error:
                log.warning("cannot purge expired recipients", extra={"reason": str(error)})
            try:
                await asyncio.wait_for(self._stopping.wait(), self._purge_interval_s)
            except TimeoutError:
                pass

    async def _fold(
        self,
        topic_name: str,
        batches: Mapping[TopicPartition, Sequence[ConsumerRecord]],
        fold_batch: FoldBatch,
    ) -> None:
        """Decode a poll batch, dead-letter what is not an event, fold the rest at once."""
        records = [record for partition in batches.values() for record in partition]
        with BatchSpans(
            f"fold {topic_name} batch", topic=records[0].topic, records=len(records)
        ) as spans:
            events = []
            for record in records:
                event = await self._decode(record)
                if event is None:
                    continue
                events.append(event)
                spans.result(
                    f"fold {event.type}",  # type: ignore[attr-defined]
                    record.headers,
                    {"campaign.id": getattr(event, "campaign_id", "") or ""},
                )
            await fold_batch(events)

    async def _decode(self, record: ConsumerRecord) -> Event | None:
        """The record's event; None when it is not one, and then it is in the DLQ."""
        try:
            return decode(record.value)
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
            return None
