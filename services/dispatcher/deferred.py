"""Commands held during a pause go back to the senders on resume, or end cancelled on stop.

Senders hold a paused campaign's commands in Redis (shared/store/deferred.py);
this poller is their only reader. A resumed campaign's commands are produced
to message.commands again; a stopped campaign's end as MessageCancelled.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from services.dispatcher.polling import Poller
from services.dispatcher.republish import cancelled, produce_commands, produce_results
from shared.events.models import SendMessage
from shared.lifecycle import PAUSED, STOPPED
from shared.redis import Keys
from shared.store.campaigns import CampaignStore
from shared.store.deferred import DeferredCommands
from shared.topics import Topics

log = logging.getLogger(__name__)
SLICE = 500


class DeferredReleaser(Poller):
    def __init__(
        self,
        producer: AIOKafkaProducer,
        redis: Redis,
        keys: Keys,
        topics: Topics,
        commands_per_record: int,
        poll_interval_s: float,
    ) -> None:
        super().__init__(poll_interval_s)
        self._producer = producer
        self._campaigns = CampaignStore(redis, keys)
        self._deferred = DeferredCommands(redis, keys)
        self._topics = topics
        self._commands_per_record = commands_per_record

    async def poll_once(self) -> None:
        for campaign_id in await self._deferred.campaigns():
            status = await self._campaigns.status(campaign_id)
            if status == PAUSED:
                continue
            released = 0
            while commands := await self._deferred.peek(campaign_id, SLICE):
                if status == STOPPED:
                    await self._cancel(campaign_id, commands)
                else:
                    await self._resend(campaign_id, commands)
                await self._deferred.drop(campaign_id, len(commands))
                released += len(commands)
            await self._deferred.forget_if_empty(campaign_id)
            if released:
                log.info(
                    "held commands released",
                    extra={"campaign_id": campaign_id, "commands": released, "status": status},
                )

    async def _resend(self, campaign_id: str, commands: list[SendMessage]) -> None:
        await produce_commands(
            self._producer,
            self._topics.message_commands,
            campaign_id,
            commands,
            self._commands_per_record,
            "resumed",
        )

    async def _cancel(self, campaign_id: str, commands: list[SendMessage]) -> None:
        await produce_results(
            self._producer, self._topics.message_results, campaign_id, cancelled(commands)
        )
