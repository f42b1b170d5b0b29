"""The four alerts of the original system, raised and cleared on their own.

Every ALERT_INTERVAL_S the api looks at the senders' breakers, the last
ALERT_WINDOW_S of outcomes and Twilio request times, and the consumer lag. An
alert that starts holding is logged, stored in Redis (listed at
GET /api/dashboard/alerts) and published on the ``alerts`` topic; when it stops
holding, it is cleared the same three ways. Redis decides which api replica
raises or clears an alert, so several replicas never announce it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.lag import ConsumerLagMonitor, GroupLag
from services.api.settings import ApiSettings
from shared.events.models import AlertCleared, AlertName, AlertRaised
from shared.kafka import send_events
from shared.redis import Keys
from shared.renewing_producer import RenewingProducer
from shared.store.stats import StatsStore, Window

log = logging.getLogger(__name__)
SOURCE = "/services/api/alerts"


@dataclass(frozen=True, slots=True)
class Finding:
    name: AlertName
    holds: bool
    message: str = ""
    details: dict[str, float | int | str] = field(default_factory=dict)


def evaluate(
    settings: ApiSettings, window: Window, breakers: dict[str, str], lag: GroupLag | None
) -> list[Finding]:
    """Which of the four alerts hold now (pure: figures in, findings out)."""
    findings = []
    opened = sorted(replica for replica, state in breakers.items() if state == "open")
    findings.append(
        Finding(
            "circuit_breaker_open",
            bool(opened),
            f"circuit breaker open on {', '.join(opened)}: Twilio calls wait",
            {"replicas": ",".join(opened)},
        )
    )
    rate, done = window.failure_rate, window.sent + window.failed
    failing = rate is not None and done >= settings.alert_min_outcomes
    findings.append(
        Finding(
            "failure_rate_high",
            failing and rate >= settings.alert_failure_rate,  # type: ignore[operator]
            f"{rate or 0:.0%} of {done} messages failed in the last {settings.alert_window_s:g} s",
            {"failureRate": round(rate or 0, 4), "outcomes": done},
        )
    )
    average = window.twilio_average_ms
    findings.append(
        Finding(
            "processing_time_high",
            average is not None and average >= settings.alert_processing_time_ms,
            f"Twilio requests took {average or 0:.0f} ms on average "
            f"in the last {settings.alert_window_s:g} s",
            {"averageMs": round(average or 0, 1), "requests": window.twilio_calls},
        )
    )
    behind = [
        (count, group, topic)
        for group, topics in (lag or {}).items()
        for topic, count in topics.items()
        if count >= settings.alert_queue_lag
    ]
    worst = max(behind, default=(0, "", ""))
    findings.append(
        Finding(
            "queue_saturated",
            bool(behind),
            f"{worst[1]} is {worst[0]} records behind on {worst[2]}",
            {"lag": worst[0], "group": worst[1], "topic": worst[2]},
        )
    )
    return findings


class AlertStore:
    """``alerts:active`` hash: alert name -> the AlertRaised event, as JSON."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = keys("alerts", "active")

    async def raise_once(self, alert: AlertRaised) -> bool:
        return bool(await self._redis.hsetnx(self._key, alert.name, alert.model_dump_json()))

    async def clear_once(self, name: str) -> AlertRaised | None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(self._key, name)
            pipe.hdel(self._key, name)
            raw, deleted = await pipe.execute()
        return AlertRaised.model_validate_json(raw) if deleted and raw else None

    async def active(self) -> list[AlertRaised]:
        raw = await self._redis.hgetall(self._key)
        alerts = [AlertRaised.model_validate(orjson.loads(value)) for value in raw.values()]
        return sorted(alerts, key=lambda alert: alert.occurred_at)


class AlertMonitor:
    def __init__(
        self,
        settings: ApiSettings,
        store: AlertStore,
        stats: StatsStore,
        breakers: Callable[[], Awaitable[dict[str, str]]],
        lag: ConsumerLagMonitor,
        producer: RenewingProducer,
        topic: str,
    ) -> None:
        self._settings = settings
        self._store = store
        self._stats = stats
        self._breakers = breakers
        self._lag = lag
        self._producer = producer
        self._topic = topic
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def check_once(self) -> None:
        window = await self._stats.window(self._settings.alert_window_s)
        findings = evaluate(self._settings, window, await self._breakers(), await self._lag.lag())
        for finding in findings:
            if finding.holds:
                alert = AlertRaised(
                    name=finding.name, message=finding.message, details=finding.details
                )
                if await self._store.raise_once(alert):
                    log.warning(
                        "alert raised",
                        extra={"alert": finding.name, "alert_message": finding.message},
                    )
                    await self._publish(alert)
            elif (raised := await self._store.clear_once(finding.name)) is not None:
                log.info("alert cleared", extra={"alert": finding.name})
                await self._publish(AlertCleared(name=finding.name, raised_at=raised.occurred_at))

    async def _publish(self, event: AlertRaised | AlertCleared) -> None:
        await send_events(
            self._producer, self._topic, [(event.name.encode(), event)], source=SOURCE
        )

    async def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.check_once()
            except (RedisError, KafkaError, OSError) as error:
                log.warning("alerts not checked", extra={"reason": repr(error)})
            except Exception:
                # A bug in one round must not end alerting for good.
                log.exception("alert check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._settings.alert_interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alerts")

    async def stop(self) -> None:
        self._stopped.set()
        if self._task is not None:
            await self._task
