"""Outcomes to message.results, a batch per partition instead of a send per outcome.

Each outcome is still its own record (the topic's contract is one result per
record), keyed by its campaign so that a campaign's results stay in order on one
partition. What is batched is the work: outcomes finished at about the same time
are encoded together, appended to one record batch per partition and handed to
the producer in one call each, and every caller waits until its batch is
acknowledged (acks=all), so an outcome is never reported published before it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner

from services.sender.coalesce import GATHER_OUTCOMES_S, Coalescer
from shared.events import encode
from shared.events.models import MessageOutcome
from shared.renewing_producer import RenewingProducer

_Record = tuple[bytes, bytes, list[tuple[str, bytes]]]  # key, value, headers

# Outcomes per flush: a record batch of about 300 bytes each stays well under the
# producer's default max_batch_size (16 KiB) a few times over; more wait for the next.
MAX_OUTCOMES_PER_FLUSH = 500


class OutcomePublisher:
    def __init__(self, producer: RenewingProducer, topic: str, source: str) -> None:
        self._producer = producer
        self._topic = topic
        self._source = source
        self._partitioner = DefaultPartitioner()
        self._batches: Coalescer[_Record, None] = Coalescer(
            self._publish_batch, max_batch=MAX_OUTCOMES_PER_FLUSH, linger_s=GATHER_OUTCOMES_S
        )

    async def publish(self, outcome: MessageOutcome) -> None:
        """Returns once the outcome is acknowledged by Kafka."""
        # Encoded here, in the caller's context: its headers carry the caller's trace.
        value, headers = encode(outcome, source=self._source)
        await self._batches.submit((outcome.campaign_id.encode(), value, headers))

    async def _publish_batch(self, records: Sequence[_Record]) -> list[None]:
        partitions = sorted(await self._producer.partitions_for(self._topic))
        by_partition: dict[int, list[_Record]] = {}
        # A batch holds few campaigns: hash each key once (aiokafka's murmur2 is Python).
        partition_of: dict[bytes, int] = {}
        for record in records:
            key = record[0]
            partition = partition_of.get(key)
            if partition is None:
                partition = partition_of[key] = self._partitioner(key, partitions, partitions)
            by_partition.setdefault(partition, []).append(record)
        deliveries = []
        for partition, in_partition in by_partition.items():
            batch = self._producer.create_batch()
            for key, value, headers in in_partition:
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    # Full: send it and start another.
                    deliveries.append(
                        await self._producer.send_batch(batch, self._topic, partition=partition)
                    )
                    batch = self._producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None, headers=headers)
            deliveries.append(
                await self._producer.send_batch(batch, self._topic, partition=partition)
            )
        for delivery in deliveries:
            await delivery
        return [None] * len(records)
