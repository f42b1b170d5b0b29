"""Held commands go out when their time comes, or end cancelled (shared/store/holding.py).

Every dispatcher runs this poller; what two of them release at once is sent twice
to Kafka and once to Twilio (the senders' ledger). What is released when is
decisions.release_step's:
- ``paused``: the senders held them for a paused campaign. On resume they go to
  message.commands again as they were, in the order held; on stop they end cancelled.
- ``window``, ``tier``: due ones are admitted again (services/dispatcher/admission.py),
  without the window, which was open when they fell due: the recipient may have opted
  out, the tier may be full again. A stopped or expired campaign's end cancelled; a
  paused one's stay held. The tier's release keeps the campaign's throttled status.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from services.dispatcher.admission import Admission
from services.dispatcher.command_batches import by_first_contact
from services.dispatcher.decisions import cancelled, release_step, skipped_opted_out
from services.dispatcher.polling import Poller
from services.dispatcher.republish import StepProducer
from shared.clock import Clock
from shared.events.models import CancelReason, Event, SendMessage
from shared.lifecycle import SENDING, THROTTLED, has_expired, move
from shared.store.campaigns import CampaignStore
from shared.store.holding import PAUSED_REASON, HoldingStore, HoldReason

log = logging.getLogger(__name__)
SLICE = 500


class HoldReleaser(Poller):
    def __init__(
        self,
        *,
        out: StepProducer,
        campaigns: CampaignStore,
        holding: HoldingStore,
        admission: Admission,
        clock: Clock,
        poll_interval_s: float,
    ) -> None:
        super().__init__(poll_interval_s)
        self._out = out
        self._campaigns = campaigns
        self._holding = holding
        self._admission = admission
        self._clock = clock

    async def poll_once(self) -> None:
        for campaign_id, reason in await self._holding.entries():
            record = await self._campaigns.get(campaign_id)
            status = record.status if record else None
            expired = record is not None and has_expired(record.expires_at, datetime.now(UTC))
            step = release_step(reason, status, expired)
            if step.action == "wait":
                continue
            if step.action == "cancel" and step.reason is not None:
                done = await self._cancel_all(campaign_id, reason, step.reason)
            elif reason == PAUSED_REASON:
                done = await self._resend_all(campaign_id)
            else:
                done = await self._release_due(campaign_id, reason)
            await self._holding.forget_if_empty(campaign_id, reason)
            if done:
                log.info(
                    "held commands released",
                    extra={
                        "campaign_id": campaign_id,
                        "commands": done,
                        "reason": reason,
                        "status": status,
                        "action": step.action,
                    },
                )

    async def _resend_all(self, campaign_id: str) -> int:
        """A resumed campaign's commands, as they were: the senders check them again."""
        released = 0
        while held := await self._holding.first(campaign_id, PAUSED_REASON, SLICE):
            await self._produce(campaign_id, [h.command for h in held], [], "resumed")
            await self._holding.remove(campaign_id, PAUSED_REASON, held)
            released += len(held)
        return released

    async def _release_due(self, campaign_id: str, reason: HoldReason) -> int:
        now_ms = await self._clock.now_ms()
        released = 0
        while due := await self._holding.due(campaign_id, reason, now_ms, SLICE):
            admitted = await self._admission.decide([h.command for h in due], None)
            results = skipped_opted_out(admitted.opted_out)
            await self._produce(campaign_id, admitted.send, results, "held")
            # Re-held before the old ones go: a crash loses nothing. One re-held in the
            # set it came from is the same member, its due time moved: it stays.
            await self._holding.hold(campaign_id, "tier", admitted.tier_held)
            reheld = (
                {id(command) for command, _ in admitted.tier_held} if reason == "tier" else set()
            )
            await self._holding.remove(
                campaign_id, reason, [h for h in due if id(h.command) not in reheld]
            )
            released += len(admitted.send)
            if admitted.tier_held:
                break  # the tier is full again: the rest waits for it too
        if reason == "tier":
            await self._update_throttle(campaign_id)
        return released

    async def _update_throttle(self, campaign_id: str) -> None:
        next_due_ms = await self._holding.next_due_ms(campaign_id, "tier")
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

    async def _cancel_all(self, campaign_id: str, reason: HoldReason, why: CancelReason) -> int:
        done = 0
        while held := await self._holding.first(campaign_id, reason, SLICE):
            outcomes = cancelled([h.command for h in held], why)
            await self._produce(campaign_id, [], outcomes, "held")
            await self._holding.remove(campaign_id, reason, held)
            done += len(held)
        return done

    async def _produce(
        self, campaign_id: str, commands: list[SendMessage], results: list[Event], origin: str
    ) -> None:
        await self._out.commands_and_results(
            campaign_id, commands, results, by_first_contact(campaign_id, origin)
        )
