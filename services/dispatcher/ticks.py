"""Ticks: wake-ups, keyed by campaign, that make the dispatcher emit a campaign's next batches.

A tick carries only the campaign id. It goes through Kafka rather than being a
local call so that the dispatcher owning the campaign's partition handles it,
one at a time per partition, in order with nothing else touching its cursor.
"""

from __future__ import annotations

from shared.renewing_producer import RenewingProducer
from shared.store.expansion import ExpansionStore
from shared.topics import Topics


class TickSender:
    def __init__(
        self, producer: RenewingProducer, expansions: ExpansionStore, topics: Topics
    ) -> None:
        self._producer = producer
        self._expansions = expansions
        self._topic = topics.dispatcher_ticks

    async def request(self, campaign_id: str) -> bool:
        """Send a tick unless one is already on its way; True when one was sent."""
        if not await self._expansions.claim_tick(campaign_id):
            return False
        key = campaign_id.encode()
        await self._producer.send_and_wait(self._topic, key, key=key)
        return True
