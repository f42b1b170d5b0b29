"""Wires the dispatcher: shared connections, the faust app, schedules, the health endpoint."""

from __future__ import annotations

import asyncio

from services.dispatcher.expansion import Expander, ExpansionConfig
from services.dispatcher.faust_app import create_faust_app
from services.dispatcher.schedules import ScheduleStarter
from services.dispatcher.settings import DispatcherSettings
from shared.redis import Keys
from shared.runtime import Service
from shared.topics import Topics


class DispatcherService(Service):
    name = "dispatcher"

    def __init__(self, settings: DispatcherSettings) -> None:
        super().__init__(settings)
        self.dispatcher_settings = settings
        self.faust_app = create_faust_app(settings, self._expander)
        self.schedules = ScheduleStarter(
            self.connections.producer,
            self.connections.redis,
            Keys(settings.redis_key_prefix),
            Topics.from_settings(settings),
            poll_interval_s=settings.schedule_poll_interval_s,
        )
        self._schedule_task: asyncio.Task[None] | None = None

    def _expander(self) -> Expander:
        settings = self.dispatcher_settings
        config = ExpansionConfig(
            batch_size=settings.batch_size,
            commands_per_record=settings.commands_per_record,
            default_from_number=settings.twilio_whatsapp_number,
        )
        return Expander(
            config,
            self.connections.producer,
            self.connections.redis,
            Keys(settings.redis_key_prefix),
            Topics.from_settings(settings),
        )

    async def start_work(self) -> None:
        await self.faust_app.start()
        self._schedule_task = asyncio.create_task(self.schedules.run(), name="schedules")

    async def stop_work(self) -> None:
        if self._schedule_task is not None:
            self.schedules.stop()
            await self._schedule_task
        await self.faust_app.stop()
