"""message.status into the funnel: a poll batch of delivery receipts in, messages moved forward.

The batch is one PostgreSQL statement for the recipients' rows (those whose callback
named their position), then one Redis round trip for the funnel
(shared/store/funnel.py), applied in the order the receipts were read; a batch read
again after a failure moves nothing twice in either.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shared.events.models import Event, MessageStatusReported
from shared.store.funnel import FunnelStore, Receipt, state_of
from shared.store.recipients import RecipientReceipt, RecipientStore

log = logging.getLogger(__name__)


class ReceiptFolder:
    def __init__(self, funnels: FunnelStore, recipients: RecipientStore, ttl_s: int) -> None:
        self._funnels = funnels
        self._recipients = recipients
        # The funnel lives this long after its newest receipt (shared/store/funnel.py).
        self._ttl_s = ttl_s

    async def fold_batch(self, events: Sequence[Event]) -> int:
        """Fold the receipts of our campaigns; how many messages moved forward."""
        receipts = []
        rows = []
        for event in events:
            if not isinstance(event, MessageStatusReported):
                continue
            if not event.campaign_id:
                # Not sent by a campaign (no campaign in its callback URL): nothing to count.
                log.debug("receipt without a campaign", extra={"message_sid": event.message_sid})
                continue
            receipts.append(
                Receipt(
                    event.campaign_id,
                    event.message_sid,
                    event.status,
                    event.error_code,
                    at_ms=int(event.occurred_at.timestamp() * 1000),
                )
            )
            state = state_of(event.status)
            if event.position is not None and state is not None:
                rows.append(
                    RecipientReceipt(
                        event.campaign_id,
                        event.position,
                        state,
                        event.occurred_at,
                        event.error_code,
                    )
                )
        if not receipts:
            return 0
        # The rows first: a funnel shows nothing the recipients' rows do not hold.
        await self._recipients.record_receipts(rows)
        return sum(await self._funnels.fold_many(receipts, self._ttl_s))
