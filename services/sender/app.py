"""Wires the sender's parts together: consumer -> handler -> gateway, with ledger and limiter."""

from __future__ import annotations

import logging

from services.sender.consumer import CommandConsumer
from services.sender.control import CampaignControl, Decision
from services.sender.fair_gate import FairGate
from services.sender.handler import SendHandler
from services.sender.heartbeat import Heartbeat
from services.sender.ledger import Ledger
from services.sender.limiter import SlidingWindowLimiter, default_windows, windows_by_number
from services.sender.settings import SenderSettings
from services.sender.timings import TwilioTimings
from services.sender.twilio_gateway import TwilioGateway
from shared.metrics import BUFFERED_COMMANDS
from shared.redis import Keys, ReplicaAcks
from shared.runtime import Service
from shared.store.holding import HoldingStore
from shared.store.stats import StatsStore
from shared.store.suppressions import SuppressionCache
from shared.test_sends import is_test_lane

log = logging.getLogger(__name__)


class SenderService(Service):
    name = "sender"

    def __init__(self, settings: SenderSettings) -> None:
        super().__init__(settings)
        self.settings: SenderSettings = settings
        self.gateway: TwilioGateway | None = None
        self.consumer: CommandConsumer | None = None
        self.heartbeat: Heartbeat | None = None
        self.gate: FairGate | None = None
        self.timings: TwilioTimings | None = None

    async def start_work(self) -> None:
        settings = self.settings
        redis = self.connections.redis
        keys = Keys(settings.redis_key_prefix)
        self.gateway = TwilioGateway(settings)
        await self.gateway.open()
        control = CampaignControl(redis, keys, settings.campaign_status_cache_ms)

        async def sendable(lane: str) -> bool:
            # A campaign's test sends go whatever its status (shared/test_sends.py).
            return is_test_lane(lane) or await control.decide(lane) is Decision.SEND

        limiter = SlidingWindowLimiter(
            redis,
            keys,
            default_windows(
                settings.twilio_rate_limit_per_second,
                settings.twilio_rate_limit_per_minute,
                settings.twilio_rate_limit_per_hour,
                settings.limiter_margin_ms,
            ),
            windows_by_number(
                settings.sender_directory,
                [sender.number for sender in settings.whatsapp_senders],
                settings.limiter_margin_ms,
            ),
            ReplicaAcks.of(settings),
        )
        self.gate = FairGate(limiter, sendable, settings.twilio_max_concurrent)
        handler = SendHandler(
            ledger=Ledger(redis, keys, settings.sender_replica_id, settings.ledger_ttl_s),
            deferred_commands=HoldingStore(redis, keys),
            control=control,
            gate=self.gate,
            gateway=self.gateway,
            settings=settings,
            suppressions=SuppressionCache(redis, keys, settings.twilio_credentials[0]),
        )
        self.consumer = CommandConsumer(settings, self.connections.producer, handler.handle)
        consumer = self.consumer
        BUFFERED_COMMANDS.set_function(lambda: consumer.commands_in_flight)
        await self.consumer.start()
        gateway = self.gateway
        self.heartbeat = Heartbeat(
            redis,
            keys,
            settings.sender_replica_id,
            lambda: gateway.breaker_state.name.lower(),
            settings.heartbeat_interval_s,
        )
        self.heartbeat.start()
        gateway.on_breaker_change = self.heartbeat.wake
        self.timings = TwilioTimings(StatsStore(redis, keys))
        self.timings.start()
        gateway.on_request_timed = self.timings.record
        log.info("sender consuming", extra={"replica": settings.sender_replica_id})

    async def stop_work(self) -> None:
        if self.heartbeat is not None:
            await self.heartbeat.stop()
            self.heartbeat = None
        if self.consumer is not None:
            await self.consumer.stop(self.settings.sender_drain_timeout_s)
            self.consumer = None
        if self.timings is not None:  # after the consumer: its last sends are timed too
            await self.timings.stop()
            self.timings = None
        if self.gateway is not None:
            await self.gateway.close()
            self.gateway = None
