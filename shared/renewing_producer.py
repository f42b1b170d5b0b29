"""An idempotent Kafka producer that replaces itself when the broker stops taking its
sequence numbers.

aiokafka (0.14) numbers each partition's batches for its producer id and has no way
back once the broker disagrees: after a broker restart it can answer
OUT_OF_ORDER_SEQUENCE_NUMBER, and from then on every batch to that partition fails
the same way until the process restarts (aio-libs/aiokafka#1017; the Java client
bumps its epoch instead, which aiokafka cannot). A fresh producer asks for a new
producer id, whose sequences start again at 0. The records that failed were not
written, and every caller already retries a failed send: the sender's consumer
keeps the command unprocessed, the api answers 503. Redelivery is safe, since the
ledger and the metrics fold ignore a record they have already seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from shared.retry import Backoff

log = logging.getLogger(__name__)

# Errors that say the broker no longer accepts this producer id's sequence: no retry
# by the same producer can succeed.
SEQUENCE_LOST = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)

# A replacement cannot start while the broker is still down: try again, 0.2 s after
# the first try, doubling up to every 5 s.
RENEW_BACKOFF = Backoff(base_delay_ms=200, max_delay_ms=5_000, jitter="none")
# The old producer's stop waits for what it still holds; batches whose sequence is
# lost fail at once, and nothing waits on the rest longer than this.
RETIRE_TIMEOUT_S = 30.0


class RenewingProducer:
    """The part of AIOKafkaProducer's interface the services use, on a producer that is
    replaced by a new one (new producer id) after a sequence error."""

    def __init__(self, build: Callable[[], AIOKafkaProducer]) -> None:
        self._build = build
        self._current = build()
        self._renewal: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self._stopped = False
        # How many times it was replaced: a failure from an older producer renews nothing.
        self.renewals = 0

    @property
    def client(self) -> Any:
        return self._current.client

    async def start(self) -> None:
        await self._current.start()

    async def stop(self) -> None:
        self._stopped = True
        if self._renewal is not None:
            self._renewal.cancel()
            await asyncio.gather(self._renewal, return_exceptions=True)
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await self._current.stop()

    async def flush(self) -> None:
        await self._current.flush()

    async def partitions_for(self, topic: str) -> set[int]:
        return await self._current.partitions_for(topic)

    def create_batch(self) -> Any:
        return self._current.create_batch()

    async def send(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> Any:
        """The delivery future, as AIOKafkaProducer.send returns it."""
        generation = self.renewals
        delivery = await self._current.send(topic, value, key=key, **kwargs)
        return self._watched(delivery, generation)

    async def send_and_wait(
        self, topic: str, value: Any = None, key: Any = None, **kwargs: Any
    ) -> Any:
        return await (await self.send(topic, value, key=key, **kwargs))

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        generation = self.renewals
        delivery = await self._current.send_batch(batch, topic, partition=partition)
        return self._watched(delivery, generation)

    def _watched(self, delivery: asyncio.Future[Any], generation: int) -> asyncio.Future[Any]:
        """The caller still gets the error; the producer starts replacing itself."""

        def on_done(done: asyncio.Future[Any]) -> None:
            if done.cancelled():
                return
            error = done.exception()
            if isinstance(error, SEQUENCE_LOST) and generation == self.renewals:
                self._renew_once(error)

        delivery.add_done_callback(on_done)
        return delivery

    def _renew_once(self, error: BaseException) -> None:
        if self._stopped or (self._renewal is not None and not self._renewal.done()):
            return
        log.warning(
            "kafka producer lost its sequence; replacing it",
            extra={"error": type(error).__name__},
        )
        self._renewal = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        attempt = 0
        while True:
            fresh = self._build()
            try:
                await fresh.start()
                break
            except (KafkaError, OSError, TimeoutError) as error:
                await fresh.stop()
                attempt += 1
                log.warning(
                    "kafka producer replacement could not start",
                    extra={"error": repr(error), "attempt": attempt},
                )
                await asyncio.sleep(RENEW_BACKOFF.delay_s(attempt))
        old, self._current = self._current, fresh
        self.renewals += 1
        log.warning("kafka producer replaced", extra={"renewals": self.renewals})
        retiring = asyncio.get_running_loop().create_task(self._retire(old))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _retire(old: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(old.stop(), RETIRE_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as error:
            log.warning(
                "replaced kafka producer did not stop cleanly", extra={"error": repr(error)}
            )
