"""message.status into the funnel: one delivery receipt in, a message moved forward (or not)."""

from __future__ import annotations

import logging

from shared.events.models import Event, MessageStatusReported
from shared.store.funnel import FunnelStore

log = logging.getLogger(__name__)


class ReceiptFolder:
    def __init__(self, funnels: FunnelStore, ttl_s: int) -> None:
        self._funnels = funnels
        # The funnel lives this long after its newest receipt (shared/store/funnel.py).
        self._ttl_s = ttl_s

    async def fold(self, event: Event) -> bool:
        """Fold a receipt of one of our campaigns; True when its message moved forward."""
        if not isinstance(event, MessageStatusReported):
            return False
        if not event.campaign_id:
            # Not sent by a campaign (no campaign in its callback URL): nothing to count.
            log.debug("receipt without a campaign", extra={"message_sid": event.message_sid})
            return False
        return await self._funnels.fold(
            event.campaign_id, event.message_sid, event.status, event.error_code, self._ttl_s
        )
