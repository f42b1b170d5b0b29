"""A task that does one round of work every interval until it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Poller:
    """Subclasses implement ``poll_once``; a failed round is logged and tried again."""

    def __init__(self, poll_interval_s: float) -> None:
        self._poll_interval_s = poll_interval_s
        self._stopped = asyncio.Event()

    async def poll_once(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.poll_once()
            except (RedisError, KafkaError, OSError) as error:
                log.warning(
                    "poll round failed", extra={"poller": type(self).__name__, "reason": str(error)}
                )
            except Exception:
                # Anything else too: a poller that died would stall every campaign it serves.
                log.exception("poll round failed", extra={"poller": type(self).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._poll_interval_s)

    def stop(self) -> None:
        self._stopped.set()
