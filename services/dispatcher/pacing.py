"""The poller that asks for a campaign's next batches when it has credits.

Results return credits: a batch stops counting as in flight once its contacts
have outcomes (sent, failed, skipped, cancelled, expired). The poller runs in
every dispatcher; whichever sees credits first sends the tick, and the tick's
handler counts again before emitting, so extra ticks emit nothing extra.
"""

from __future__ import annotations

import asyncio
import logging
import time

from services.dispatcher.decisions import emit_credits
from services.dispatcher.polling import Poller
from services.dispatcher.ticks import TickSender
from shared.lifecycle import STOPPED, is_holding
from shared.metrics import BATCHES_IN_FLIGHT
from shared.outages import is_outage
from shared.store.campaigns import CampaignStore
from shared.store.expansion import ExpansionStore
from shared.store.holding import HoldingStore
from shared.store.progress import ProgressStore

log = logging.getLogger(__name__)

# How often the Redis copies of the running campaigns' statuses are checked against
# their rows: the most a copy lost in a Redis failover can stay behind.
STATUS_REFRESH_INTERVAL_S = 5.0


class ExpansionPacer(Poller):
    def __init__(
        self,
        campaigns: CampaignStore,
        progress: ProgressStore,
        expansions: ExpansionStore,
        ticks: TickSender,
        holding: HoldingStore,
        max_concurrent_batches: int,
        poll_interval_s: float,
    ) -> None:
        super().__init__(poll_interval_s)
        self._holding = holding
        self._campaigns = campaigns
        self._progress = progress
        self._expansions = expansions
        self._ticks = ticks
        self._max_batches = max_concurrent_batches
        self._statuses_refreshed_at = 0.0

    async def poll_once(self) -> None:
        in_flight = 0
        expanding = await self._expansions.expanding()
        now = time.monotonic()
        if now - self._statuses_refreshed_at >= STATUS_REFRESH_INTERVAL_S:
            await self._campaigns.refresh_status_copies(expanding)
            self._statuses_refreshed_at = now
        for campaign_id in expanding:
            try:
                has_work, batches = await self._has_work(campaign_id)
            except Exception as error:
                if is_outage(error):
                    raise  # every campaign would fail alike: the round is tried again
                # One campaign's odd record must not keep the others from their ticks:
                # its tick's handler meets the same error and fails the campaign.
                log.warning(
                    "campaign not paced", extra={"campaign_id": campaign_id, "reason": repr(error)}
                )
                has_work, batches = True, 0
            in_flight += batches
            if has_work:
                await self._ticks.request(campaign_id)
        BATCHES_IN_FLIGHT.set(in_flight)

    async def _has_work(self, campaign_id: str) -> tuple[bool, int]:
        """Whether to tick the campaign, and its batches in flight."""
        # Three reads at once: this runs for every campaign ten times a second.
        status, progress, held_counts = await asyncio.gather(
            self._campaigns.status(campaign_id),
            self._progress.read(campaign_id),
            self._holding.counts(campaign_id),
        )
        if progress is None:
            return not is_holding(status), 0  # the tick's handler finds out
        credits = emit_credits(
            progress.emitted,
            progress.processed,
            held_counts,
            progress.batch_size,
            self._max_batches,
        )
        in_flight = self._max_batches - credits
        if is_holding(status):
            return False, in_flight
        # A stopped campaign's rest is to be cancelled.
        return status == STOPPED or credits > 0, in_flight
