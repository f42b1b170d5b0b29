"""Scheduled campaigns start themselves: due ones are turned into CampaignStarted events.

The schedule lives in Redis, so a campaign whose time came while every service
was down starts as soon as the dispatcher is back. The event is written before
the schedule entry is removed: a crash in between starts the campaign twice,
which the expansion's cursor makes harmless, rather than never.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from services.dispatcher.polling import Poller
from shared.campaign_start import start_campaign
from shared.events import encode
from shared.events.models import CampaignStarted
from shared.lifecycle import SCHEDULED
from shared.renewing_producer import RenewingProducer
from shared.store.campaigns import CampaignStore
from shared.store.recipients import RecipientStore
from shared.topics import Topics

log = logging.getLogger(__name__)


class ScheduleStarter(Poller):
    def __init__(
        self,
        *,
        producer: RenewingProducer,
        topics: Topics,
        campaigns: CampaignStore,
        recipients: RecipientStore,
        poll_interval_s: float,
    ) -> None:
        super().__init__(poll_interval_s)
        self._producer = producer
        self._campaigns = campaigns
        self._recipients = recipients
        self._topics = topics

    async def poll_once(self) -> None:
        await self.start_due(datetime.now(UTC))

    async def start_due(self, now: datetime) -> list[str]:
        started = []
        for campaign_id in await self._campaigns.due_schedules(now):
            # Still queued after a crash between the move and the publish: published again.
            start = await start_campaign(
                self._campaigns,
                self._recipients,
                campaign_id,
                (SCHEDULED,),
                self._publish,
                now,
                again_if_queued=True,
            )
            if start.event is not None:
                started.append(campaign_id)
                log.info("scheduled campaign started", extra={"campaign_id": campaign_id})
            else:
                await self._campaigns.unschedule(campaign_id)  # started or deleted meanwhile
        return started

    async def _publish(self, event: CampaignStarted) -> None:
        value, headers = encode(event, source="/services/dispatcher")
        await self._producer.send_and_wait(
            self._topics.campaign_events, value, key=event.campaign_id.encode(), headers=headers
        )
