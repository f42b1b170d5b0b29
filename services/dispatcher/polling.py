"""Tasks that do one round of work every interval until they are stopped."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from shared.retry import Backoff, sleep_unless

log = logging.getLogger(__name__)

# Failed rounds in a row space out up to this: an outage is not logged ten times a
# second, and the round after it ends comes at most this late.
MAX_FAILED_ROUND_DELAY_MS = 2_000


class Poller:
    """Subclasses implement ``poll_once``; a failed round is logged and tried again."""

    def __init__(self, poll_interval_s: float) -> None:
        self._poll_interval_s = poll_interval_s
        interval_ms = poll_interval_s * 1000
        self._backoff = Backoff(interval_ms, max(interval_ms, MAX_FAILED_ROUND_DELAY_MS))
        self._stopped = asyncio.Event()

    async def poll_once(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        failed_rounds = 0
        while not self._stopped.is_set():
            try:
                await self.poll_once()
                failed_rounds = 0
            except (RedisError, KafkaError, OSError) as error:
                failed_rounds += 1
                log.warning(
                    "poll round failed", extra={"poller": type(self).__name__, "reason": str(error)}
                )
            except Exception:
                # Anything else too: a poller that died would stall every campaign it serves.
                failed_rounds += 1
                log.exception("poll round failed", extra={"poller": type(self).__name__})
            delay_s = (
                self._backoff.delay_s(failed_rounds) if failed_rounds else self._poll_interval_s
            )
            await sleep_unless(self._stopped, delay_s)

    def stop(self) -> None:
        self._stopped.set()


class Pollers:
    """Pollers run as tasks side by side, started together and stopped together."""

    def __init__(self, **pollers: Poller) -> None:
        self._pollers = pollers
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(poller.run(), name=name) for name, poller in self._pollers.items()
        ]

    async def stop(self) -> None:
        """Each finishes its round, then its task ends."""
        for poller in self._pollers.values():
            poller.stop()
        await asyncio.gather(*self._tasks)
        self._tasks = []
