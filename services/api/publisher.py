"""campaign.events from the api: written durably (acks=all) before a request is answered."""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError

from services.api.errors import EventNotWritten
from shared.events import encode
from shared.events.models import CampaignControl, CampaignScheduled, CampaignStarted
from shared.renewing_producer import RenewingProducer

log = logging.getLogger(__name__)

SOURCE = "/services/api"
CampaignEvent = CampaignStarted | CampaignScheduled | CampaignControl


class CampaignEventPublisher:
    def __init__(self, producer: RenewingProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def publish(self, event: CampaignEvent) -> None:
        """Return once the broker has acknowledged the event; keyed by campaign id."""
        value, headers = encode(event, source=SOURCE)
        try:
            await self._producer.send_and_wait(
                self._topic, value, key=event.campaign_id.encode(), headers=headers
            )
        except KafkaError as error:
            raise EventNotWritten(f"{event.type} for {event.campaign_id}: {error}") from error
        log.debug(
            "event written", extra={"event_type": event.type, "campaign_id": event.campaign_id}
        )
