"""message.results into progress: one result in, one counted outcome (or none) out."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from shared.events.models import (
    Event,
    MessageCancelled,
    MessageFailed,
    MessageOutcome,
    MessageSent,
    MessageSkipped,
)
from shared.store.campaigns import FINISHED_STATUSES, CampaignStore
from shared.store.progress import Outcome, ProgressStore

log = logging.getLogger(__name__)

# Terminal outcomes only: a deferred message is still on its way.
OUTCOMES: dict[type[Event], Outcome] = {
    MessageSent: "sent",
    MessageFailed: "failed",
    MessageSkipped: "skipped",
    MessageCancelled: "cancelled",
}
COMPLETES = 2


def outcome_of(event: Event) -> Outcome | None:
    if isinstance(event, MessageCancelled) and event.reason == "expired":
        return "expired"
    return OUTCOMES.get(type(event))


class ProgressFolder:
    def __init__(self, progress: ProgressStore, campaigns: CampaignStore) -> None:
        self._progress = progress
        self._campaigns = campaigns

    async def fold(self, event: Event) -> bool:
        """Count a terminal result once; True when it was new."""
        outcome = outcome_of(event)
        if outcome is None or not isinstance(event, MessageOutcome):
            return False
        failure = event if isinstance(event, MessageFailed) else None
        at_ms = int(event.occurred_at.timestamp() * 1000)
        counted = await self._progress.fold(
            event.campaign_id,
            event.contact_id,
            outcome,
            event.batch_index,
            failure.error_code if failure else None,
            at_ms,
            retryable=bool(failure and failure.retryable),
        )
        if counted == COMPLETES:
            await self._complete(event.campaign_id)
        return counted > 0

    async def _complete(self, campaign_id: str) -> None:
        status = await self._campaigns.status(campaign_id)
        # A stopped campaign stays stopped once its last contact is cancelled.
        if status is not None and status not in FINISHED_STATUSES:
            await self._campaigns.set_fields(
                campaign_id, status="completed", finished_at=datetime.now(UTC).isoformat()
            )
        log.info("campaign completed", extra={"campaign_id": campaign_id})
