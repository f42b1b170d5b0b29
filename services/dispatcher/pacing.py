"""Credits: when a campaign may have its next batch emitted, and the poller that asks.

Results return credits: a batch stops counting as in flight once its contacts
have outcomes (sent, failed, skipped, cancelled, expired). The poller runs in
every dispatcher; whichever sees credits first sends the tick, and the tick's
handler counts again before emitting, so extra ticks emit nothing extra.
"""

from __future__ import annotations

from services.dispatcher.polling import Poller
from services.dispatcher.ticks import TickSender
from shared.store.campaigns import CampaignStore
from shared.store.expansion import ExpansionStore
from shared.store.progress import ProgressStore


def batch_credits(emitted: int, processed: int, batch_size: int, max_batches: int) -> int:
    """Batches that may be emitted now, with ``emitted`` contacts out and ``processed``
    of them done: a partly finished batch still counts as in flight."""
    in_flight = max(0, emitted - processed)
    return max(0, max_batches - -(-in_flight // batch_size))


class ExpansionPacer(Poller):
    def __init__(
        self,
        campaigns: CampaignStore,
        progress: ProgressStore,
        expansions: ExpansionStore,
        ticks: TickSender,
        max_concurrent_batches: int,
        poll_interval_s: float,
    ) -> None:
        super().__init__(poll_interval_s)
        self._campaigns = campaigns
        self._progress = progress
        self._expansions = expansions
        self._ticks = ticks
        self._max_batches = max_concurrent_batches

    async def poll_once(self) -> None:
        for campaign_id in await self._expansions.expanding():
            if await self._has_work(campaign_id):
                await self._ticks.request(campaign_id)

    async def _has_work(self, campaign_id: str) -> bool:
        status = await self._campaigns.status(campaign_id)
        if status == "paused":
            return False
        if status == "stopped":
            return True  # its rest is to be cancelled
        progress = await self._progress.read(campaign_id)
        if progress is None:
            return True  # let the tick's handler find out
        credits = batch_credits(
            progress.emitted, progress.processed, progress.batch_size, self._max_batches
        )
        return credits > 0
