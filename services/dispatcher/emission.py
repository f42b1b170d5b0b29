"""One batch out: claim its positions, build its commands, admit them, hold what must
wait, produce the rest with the outcomes decided here, throttle on a full tier. Or,
for a stopped or expired campaign, the next batches cancelled unsent.

The rules are services/dispatcher/decisions.py's; this shell does their I/O, in
this order: hold, then produce, then throttle. A batch emitted again after a crash
claims the same positions (no false duplicates); what it holds or produces again
reaches Twilio once, through the senders' ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from services.dispatcher.admission import Admission
from services.dispatcher.command_batches import by_position
from services.dispatcher.decisions import (
    build_batch,
    cancelled_batch,
    holds,
    sender_chooser,
    skipped_opted_out,
)
from services.dispatcher.positions import AudiencePositions
from services.dispatcher.republish import StepProducer
from shared.events.models import (
    CampaignStarted,
    CancelReason,
    Event,
    InlineAudience,
    Recipient,
)
from shared.lifecycle import THROTTLED, THROTTLES_FROM, move
from shared.senders import SenderDirectory
from shared.store.campaigns import CampaignStore
from shared.store.holding import HoldingStore
from shared.store.recipients import RecipientStore
from shared.tracing import tracer

log = logging.getLogger(__name__)
_tracer = tracer(__name__)
# A stopped campaign's rest is cancelled this many batches per tick, so that a
# million cancellations do not hold the partition.
CANCEL_BATCHES_PER_TICK = 50


def audience_size(event: CampaignStarted) -> int:
    if isinstance(event.audience, InlineAudience):
        return len(event.audience.recipients)
    return event.audience.size


async def read_recipients(
    recipients: RecipientStore, event: CampaignStarted, start: int, count: int
) -> list[Recipient]:
    """One page of the audience, from send position ``start`` on."""
    if isinstance(event.audience, InlineAudience):
        return event.audience.recipients[start : start + count]
    return await recipients.page(event.campaign_id, start, count)


class BatchEmitter:
    def __init__(
        self,
        *,
        out: StepProducer,
        campaigns: CampaignStore,
        recipients: RecipientStore,
        holding: HoldingStore,
        positions: AudiencePositions,
        admission: Admission,
        senders: SenderDirectory,
        default_from_number: str,
        batch_size: int,
    ) -> None:
        self._out = out
        self._campaigns = campaigns
        self._recipients = recipients
        self._holding = holding
        self._positions = positions
        self._admission = admission
        self._senders = senders
        self._default_from_number = default_from_number
        self._batch_size = batch_size

    async def page(self, event: CampaignStarted, start: int, count: int) -> list[Recipient]:
        return await read_recipients(self._recipients, event, start, count)

    async def emit(
        self,
        event: CampaignStarted,
        batch_index: int,
        start: int,
        recipients: Sequence[Recipient],
        trace_context: dict[str, str],
    ) -> None:
        """Emit one batch, in a span that continues the campaign's start."""
        with _tracer.start_as_current_span(
            "emit batch",
            context=propagate.extract(trace_context),
            kind=SpanKind.PRODUCER,
            attributes={
                "campaign.id": event.campaign_id,
                "campaign.batch.index": batch_index,
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": self._out.commands_topic,
                "messaging.batch.message_count": len(recipients),
            },
        ):
            await self._emit(event, batch_index, start, recipients)

    async def _emit(
        self, event: CampaignStarted, batch_index: int, start: int, recipients: Sequence[Recipient]
    ) -> None:
        inline = isinstance(event.audience, InlineAudience)
        claims = await self._positions.claim(event.campaign_id, start, recipients, normalise=inline)
        choose = sender_chooser(event, self._senders, self._default_from_number)
        batch = build_batch(event, batch_index, start, recipients, claims, choose)
        admitted = await self._admission.decide(
            batch.commands, event.send_window, batch.fields_by_contact
        )
        results = batch.results + skipped_opted_out(admitted.opted_out)
        for reason, held in holds(admitted):
            await self._holding.hold(event.campaign_id, reason, held)
        await self._out.commands_and_results(
            event.campaign_id, admitted.send, results, by_position(event.campaign_id, batch_index)
        )
        if (until_ms := admitted.throttled_until_ms) is not None:
            await self._throttle(event.campaign_id, until_ms)

    async def _throttle(self, campaign_id: str, until_ms: int) -> None:
        """The sender's tier is used up: hold the rest of the campaign until ``until_ms``."""
        moved, _ = await move(
            self._campaigns,
            campaign_id,
            THROTTLES_FROM,
            THROTTLED,
            throttled_until_ms=str(until_ms),
        )
        if moved:
            log.info(
                "campaign throttled by its sender's messaging tier",
                extra={"campaign_id": campaign_id, "until_ms": until_ms},
            )

    async def cancel_some(
        self, event: CampaignStarted, start: int, total: int, reason: CancelReason
    ) -> int:
        """A stop or expiry: the next contacts never emitted end so. Returns the new cursor."""
        batch_size = self._batch_size
        cancellations: list[Event] = []
        while start < total and len(cancellations) < CANCEL_BATCHES_PER_TICK:
            recipients = await read_recipients(
                self._recipients, event, start, batch_size - start % batch_size
            )
            cancellations.append(
                cancelled_batch(event.campaign_id, start, batch_size, recipients, reason)
            )
            start += len(recipients)
        await self._out.results(event.campaign_id, cancellations)
        return start
