"""Wires the dispatcher: shared connections, the faust app, the health endpoint."""

from services.dispatcher.faust_app import create_faust_app
from services.dispatcher.settings import DispatcherSettings
from shared.runtime import Service


class DispatcherService(Service):
    name = "dispatcher"

    def __init__(self, settings: DispatcherSettings) -> None:
        super().__init__(settings)
        self.faust_app = create_faust_app(settings)

    async def start_work(self) -> None:
        await self.faust_app.start()

    async def stop_work(self) -> None:
        await self.faust_app.stop()
