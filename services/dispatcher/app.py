"""Wires the dispatcher: shared connections, the faust app, schedules, the health endpoint."""

from __future__ import annotations

import asyncio

from services.dispatcher.admission import Admission
from services.dispatcher.deferred import DeferredReleaser
from services.dispatcher.expansion import Expander, ExpansionConfig
from services.dispatcher.faust_app import create_faust_app
from services.dispatcher.held import HeldReleaser
from services.dispatcher.pacing import ExpansionPacer
from services.dispatcher.schedules import ScheduleStarter
from services.dispatcher.settings import DispatcherSettings
from shared.clock import make_clock
from shared.redis import Keys
from shared.runtime import Service
from shared.store.suppressions import SuppressionStore
from shared.store.tiers import TierStore
from shared.topics import Topics


class DispatcherService(Service):
    name = "dispatcher"

    def __init__(self, settings: DispatcherSettings) -> None:
        super().__init__(settings)
        self.dispatcher_settings = settings
        self._shared_expander: Expander | None = None
        self.faust_app = create_faust_app(settings, self._expander)
        self.schedules = ScheduleStarter(
            self.connections.producer,
            self.connections.redis,
            Keys(settings.redis_key_prefix),
            Topics.from_settings(settings),
            poll_interval_s=settings.schedule_poll_interval_s,
        )
        self.deferred = DeferredReleaser(
            self.connections.producer,
            self.connections.redis,
            Keys(settings.redis_key_prefix),
            Topics.from_settings(settings),
            commands_per_record=settings.commands_per_record,
            poll_interval_s=settings.schedule_poll_interval_s,
        )
        keys = Keys(settings.redis_key_prefix)
        redis = self.connections.redis
        # One clock for admission and releases: an adjustable one reads its offset once.
        clock = make_clock(settings.clock_adjustable, redis, keys)
        self.admission = Admission(
            SuppressionStore(redis, keys, settings.twilio_credentials[0]),
            TierStore(redis, keys),
            settings.sender_directory,
            clock,
        )
        self.held = HeldReleaser(
            self.connections.producer,
            redis,
            keys,
            Topics.from_settings(settings),
            self.admission,
            clock,
            commands_per_record=settings.commands_per_record,
            poll_interval_s=settings.schedule_poll_interval_s,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def _expander(self) -> Expander:
        """One expander for both agents: it caches the campaigns being expanded."""
        if self._shared_expander is None:
            settings = self.dispatcher_settings
            config = ExpansionConfig(
                batch_size=settings.batch_size,
                commands_per_record=settings.commands_per_record,
                default_from_number=settings.twilio_whatsapp_number,
                max_concurrent_batches=settings.max_concurrent_batches,
                senders=settings.sender_directory,
            )
            self._shared_expander = Expander(
                config,
                self.connections.producer,
                self.connections.redis,
                Keys(settings.redis_key_prefix),
                Topics.from_settings(settings),
                self.admission,
            )
        return self._shared_expander

    async def start_work(self) -> None:
        await self.faust_app.start()
        expander = self._expander()
        self.pacer = ExpansionPacer(
            expander.campaigns,
            expander.progress,
            expander.expansions,
            expander.ticks,
            expander.held,
            max_concurrent_batches=self.dispatcher_settings.max_concurrent_batches,
            poll_interval_s=self.dispatcher_settings.expansion_poll_interval_s,
        )
        self._tasks = [
            asyncio.create_task(self.schedules.run(), name="schedules"),
            asyncio.create_task(self.deferred.run(), name="deferred"),
            asyncio.create_task(self.pacer.run(), name="pacer"),
            asyncio.create_task(self.held.run(), name="held"),
        ]

    async def stop_work(self) -> None:
        self.schedules.stop()
        self.deferred.stop()
        self.pacer.stop()
        self.held.stop()
        await asyncio.gather(*self._tasks)
        await self.faust_app.stop()
