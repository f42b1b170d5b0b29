"""What every service does around its own work: connect, report health, stop on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import asyncpg
import uvloop
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay

from shared.database.pool import database_reachable, open_pool
from shared.gc_tuning import tune_garbage_collector
from shared.health import HealthServer, Probe
from shared.kafka import ensure_topics, kafka_reachable, make_producer
from shared.redis import make_redis, redis_reachable
from shared.renewing_producer import RenewingProducer
from shared.retry import Backoff
from shared.settings import Settings
from shared.tracing import instrument_redis, setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)
T = TypeVar("T")

# In a cluster the broker may start after the service: keep trying this long,
# 0.2 s after the first try, doubling up to every 5 s.
STARTUP_TIMEOUT_S = 120
STARTUP_BACKOFF = Backoff(base_delay_ms=200, max_delay_ms=5_000, jitter="none")


class Connections:
    """A service's Kafka producer, Redis client and (``database=True``) PostgreSQL pool,
    opened once and shared by its parts."""

    def __init__(self, settings: Settings, *, database: bool = False) -> None:
        self.settings = settings
        self.producer: RenewingProducer = make_producer(settings)
        self.redis: Redis = make_redis(settings)
        self._wants_database = database
        self._database: asyncpg.Pool | None = None

    @property
    def database(self) -> asyncpg.Pool:
        if self._database is None:
            raise RuntimeError("the PostgreSQL pool is not open (Connections(database=True))")
        return self._database

    async def open(self, startup_timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Create the topics and start the producer (and open the PostgreSQL pool),
        retrying while Kafka (and PostgreSQL) come up."""
        kafka_errors = (KafkaError, OSError, TimeoutError)
        await _while_coming_up("Kafka", kafka_errors, startup_timeout_s, self._ensure_topics)
        await self.producer.start()
        if self._wants_database:
            database_errors = (OSError, TimeoutError, asyncpg.CannotConnectNowError)
            self._database = await _while_coming_up(
                "PostgreSQL", database_errors, startup_timeout_s, self._open_pool
            )

    async def _ensure_topics(self) -> None:
        await ensure_topics(self.settings)

    async def _open_pool(self) -> asyncpg.Pool:
        return await open_pool(self.settings)

    async def close(self) -> None:
        await self.producer.stop()
        await self.redis.aclose()
        if self._database is not None:
            await self._database.close()

    def probes(self) -> dict[str, Probe]:
        probes: dict[str, Probe] = {
            "kafka": lambda: kafka_reachable(self.producer),
            "redis": lambda: redis_reachable(self.redis),
        }
        if self._wants_database:
            probes["postgres"] = lambda: database_reachable(self.database)
        return probes


async def _while_coming_up(
    what: str,
    errors: tuple[type[BaseException], ...],
    timeout_s: float,
    step: Callable[[], Awaitable[T]],
) -> T:
    """``step``, tried again with backoff while ``what`` answers with ``errors``: in a
    cluster a store may start after the service."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(errors),
        wait=STARTUP_BACKOFF.tenacity_wait(),
        stop=stop_after_delay(timeout_s),
        reraise=True,
    ):
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                log.warning(
                    f"waiting for {what}", extra={"attempt": attempt.retry_state.attempt_number}
                )
            return await step()
    raise AssertionError("unreachable: tenacity re-raises the last error")


def health_server(
    settings: Settings, connections: Connections, work: Mapping[str, Probe] | None = None
) -> HealthServer:
    """The stores' probes, and ``work``'s: whether the service's own loops still run."""
    probes = {**connections.probes(), **(work or {})}
    return HealthServer(settings.health_host, settings.health_port, probes)


async def until_signalled() -> None:
    """Return when the process gets SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stop requested")


async def run_until_signalled(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> None:
    """Start, wait for a stop signal, then stop even when starting failed half-way."""
    try:
        await start()
        await until_signalled()
    finally:
        await stop()


class Service:
    """A service's life: open connections, start its work, serve health, stop in reverse.

    Subclasses add their own work in ``start_work`` and ``stop_work``.
    """

    name = "service"
    # Whether the service reads or writes PostgreSQL: opens the pool and probes it.
    uses_database = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connections = Connections(settings, database=self.uses_database)
        self.health = health_server(settings, self.connections, self.work_probes())

    async def start(self) -> None:
        await self.connections.open()
        await self.start_work()
        await self.health.start()
        log.info("service initialised", extra={"service_name": self.name})

    async def stop(self) -> None:
        await self.health.stop()
        await self.stop_work()
        await self.connections.close()
        log.info("service stopped", extra={"service_name": self.name})

    def work_probes(self) -> dict[str, Probe]:
        """Probes of the service's own work, beside its stores' (none by default): a
        loop that died of an error nobody retries makes the service unhealthy, so that
        it is restarted rather than left up doing nothing."""
        return {}

    async def start_work(self) -> None:
        """The service's own consumers and tasks; none by default."""

    async def stop_work(self) -> None:
        """Drain and stop what ``start_work`` started."""


def run_service(build: Callable[[], Service]) -> None:
    """Build the service inside the event loop (aiokafka needs a running loop) and run it."""

    async def serve() -> None:
        service = build()
        setup_tracing(service.name)
        instrument_redis()

        async def start() -> None:
            await service.start()
            # Here, not in Service.start: tests run services inside pytest's process.
            tune_garbage_collector()

        try:
            await run_until_signalled(start, service.stop)
        finally:
            shutdown_tracing()

    # uvloop rather than asyncio's own loop: with a hundred and more Twilio requests in
    # flight, a sender spent about a tenth less CPU a message on it (docs/performance.md).
    uvloop.run(serve())
