"""A campaign's messages sent and failed per second: what the campaign page's chart draws.

Read from Redis (shared/store/rate_series.py), folded there by the metrics service as
it counts results and delivery receipts; it lives as long as the campaign's progress.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import CampaignReaderDep, CurrentUser, RateSeriesStoreDep
from services.api.schemas.errors import errors
from services.api.schemas.rate_series import RateSeriesPublic

router = APIRouter(prefix="/api/campaigns", tags=["live"], responses=errors(401, 422))

NOT_FOUND = errors(404, d404="No campaign of yours has this id.")


@router.get("/{campaign_id}/rate-series", response_model=RateSeriesPublic, responses=NOT_FOUND)
async def campaign_rate_series(
    campaign_id: str, user: CurrentUser, reader: CampaignReaderDep, store: RateSeriesStoreDep
) -> RateSeriesPublic:
    """Messages sent (accepted by Twilio), failed at send and failed after acceptance
    (by delivery receipt), per bucket of `bucketSeconds`, each counted at the time of
    its own result or receipt.

    One bucket a second while the run spans at most 3,600 seconds; a longer one is
    shown in wider buckets (2 s, 4 s...), so the points always cover the whole run and
    add up to its counts. Empty (no points) before the first result and once the
    campaign's progress has expired.
    """
    await reader.get(user, campaign_id)
    return RateSeriesPublic.from_series(campaign_id, await store.read(campaign_id))
