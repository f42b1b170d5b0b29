"""Scheduled campaigns start themselves: due ones are turned into CampaignStarted events.

The schedule lives in Redis, so a campaign whose time came while every service
was down starts as soon as the dispatcher is back. The event is written before
the schedule entry is removed: a crash in between starts the campaign twice,
which the expansion's cursor makes harmless, rather than never.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from services.dispatcher.polling import Poller
from shared.events import encode
from shared.lifecycle import QUEUED, SCHEDULED, move
from shared.redis import Keys
from shared.store.campaigns import CampaignStore, started_event
from shared.topics import Topics

log = logging.getLogger(__name__)


class ScheduleStarter(Poller):
    def __init__(
        self,
        producer: AIOKafkaProducer,
        redis: Redis,
        keys: Keys,
        topics: Topics,
        poll_interval_s: float,
    ) -> None:
        super().__init__(poll_interval_s)
        self._producer = producer
        self._campaigns = CampaignStore(redis, keys)
        self._topics = topics

    async def poll_once(self) -> None:
        await self.start_due(datetime.now(UTC))

    async def start_due(self, now: datetime) -> list[str]:
        started = []
        for campaign_id in await self._campaigns.due_schedules(now):
            size = await self._campaigns.audience_size(campaign_id)
            job_id = f"campaign_{campaign_id}_{int(now.timestamp() * 1000)}"
            # Atomic: a user starting the same campaign at this moment cannot also win.
            moved, found = await move(
                self._campaigns, campaign_id, (SCHEDULED,), QUEUED, job_id=job_id, total=str(size)
            )
            # Still queued after a crash between the two steps: publish again; a second
            # start of one campaign is harmless (the expansion continues from its cursor).
            record = await self._campaigns.get(campaign_id) if moved or found == QUEUED else None
            if record is not None:
                event = started_event(record, self._campaigns.audience_key(campaign_id), size)
                value, headers = encode(event, source="/services/dispatcher")
                await self._producer.send_and_wait(
                    self._topics.campaign_events, value, key=campaign_id.encode(), headers=headers
                )
                started.append(campaign_id)
                log.info("scheduled campaign started", extra={"campaign_id": campaign_id})
            await self._campaigns.unschedule(campaign_id)
        return started
