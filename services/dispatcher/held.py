"""Commands held for a send window or a messaging tier go out when their time comes.

Every dispatcher runs this poller; what two of them release at once is sent twice
to Kafka and once to Twilio (the senders' ledger). Released commands are admitted
again (services/dispatcher/admission.py), without the window, which was open when
they fell due: the recipient may have opted out, the tier may be full again. A
stopped campaign's held commands end cancelled; a paused one's stay held.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from services.dispatcher.admission import Admission
from services.dispatcher.polling import Poller
from services.dispatcher.republish import (
    cancelled,
    produce_commands,
    produce_results,
    skipped_opted_out,
)
from shared.clock import Clock
from shared.events.models import CancelReason, Event, SendMessage
from shared.lifecycle import PAUSED, SENDING, STOPPED, THROTTLED, has_expired, move
from shared.redis import Keys
from shared.store.campaigns import CampaignStore
from shared.store.held import HeldCommands, HoldReason
from shared.topics import Topics

log = logging.getLogger(__name__)
SLICE = 500


class HeldReleaser(Poller):
    def __init__(
        self,
        producer: AIOKafkaProducer,
        redis: Redis,
        keys: Keys,
        topics: Topics,
        admission: Admission,
        clock: Clock,
        commands_per_record: int,
        poll_interval_s: float,
    ) -> None:
        super().__init__(poll_interval_s)
        self._producer = producer
        self._campaigns = CampaignStore(redis, keys)
        self._held = HeldCommands(redis, keys)
        self._topics = topics
        self._admission = admission
        self._clock = clock
        self._commands_per_record = commands_per_record

    async def poll_once(self) -> None:
        for campaign_id, reason in await self._held.holding():
            record = await self._campaigns.get(campaign_id)
            status = record.status if record else None
            expired = record is not None and has_expired(record.expires_at, datetime.now(UTC))
            if status == PAUSED and not expired:
                continue
            if status == STOPPED or expired:
                # Held for a window or a tier that opens after the expiry: they would
                # only wait to expire, keeping the campaign from ending meanwhile.
                await self._cancel_all(campaign_id, reason, "expired" if expired else "stopped")
            else:
                await self._release_due(campaign_id, reason)
            await self._held.forget_if_empty(campaign_id, reason)

    async def _release_due(self, campaign_id: str, reason: HoldReason) -> None:
        now_ms = await self._clock.now_ms()
        released = 0
        while due := await self._held.due(campaign_id, reason, now_ms, SLICE):
            members = [member for member, _ in due]
            admitted = await self._admission.decide([command for _, command in due], None)
            results = skipped_opted_out(admitted.opted_out)
            await self._produce(campaign_id, admitted.send, results)
            # Re-held under new members before the old ones go: a crash loses nothing.
            await self._held.hold(campaign_id, "tier", admitted.tier_held)
            await self._held.remove(campaign_id, reason, members)
            released += len(admitted.send)
            if admitted.tier_held:
                break  # the tier is full again: the rest waits for it too
        if reason == "tier":
            await self._update_throttle(campaign_id)
        if released:
            log.info(
                "held commands released",
                extra={"campaign_id": campaign_id, "commands": released, "reason": reason},
            )

    async def _update_throttle(self, campaign_id: str) -> None:
        next_due_ms = await self._held.next_due_ms(campaign_id, "tier")
        if next_due_ms is None:
            moved, _ = await move(self._campaigns, campaign_id, (THROTTLED,), SENDING)
            if moved:
                log.info("campaign no longer throttled", extra={"campaign_id": campaign_id})
        else:
            await move(
                self._campaigns,
                campaign_id,
                (THROTTLED,),
                THROTTLED,
                throttled_until_ms=str(next_due_ms),
            )

    async def _cancel_all(self, campaign_id: str, reason: HoldReason, why: CancelReason) -> None:
        while held := await self._held.all(campaign_id, reason, SLICE):
            outcomes = cancelled([command for _, command in held], why)
            await self._produce(campaign_id, [], outcomes)
            await self._held.remove(campaign_id, reason, [member for member, _ in held])

    async def _produce(
        self, campaign_id: str, commands: list[SendMessage], results: list[Event]
    ) -> None:
        topics = self._topics
        await produce_commands(
            self._producer,
            topics.message_commands,
            campaign_id,
            commands,
            self._commands_per_record,
            "held",
        )
        await produce_results(self._producer, topics.message_results, campaign_id, results)
