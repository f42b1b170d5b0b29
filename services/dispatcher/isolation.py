"""One campaign's failure stays its own: tried again, then failed with a reason.

A step (a start, a tick, a control event) that fails is tried BATCH_RETRY_ATTEMPTS
more times. If it still fails because Redis or Kafka is away, the work is kept: the
start stays on the api's record and the pacer ticks the campaign again once the
outage ends. If it fails for any other reason (bad data, a bug), trying more would
fail the same way and hold the partition for every campaign behind it: the campaign
is marked failed with the reason, which queue-status shows, and is expanded no further.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from faust.exceptions import PartitionsMismatch

from services.dispatcher.expansion import Expander
from services.dispatcher.settings import DispatcherSettings
from shared import lifecycle
from shared.outages import is_outage, summarise
from shared.retry import Backoff
from shared.store.campaigns import CampaignStore

log = logging.getLogger(__name__)

# A failed campaign in these states is moved to failed; a stopped or finished one
# keeps its status (the stop or the result is the truer story).
FAILABLE = lifecycle.NOT_FINAL


def is_infrastructure(error: BaseException) -> bool:
    """An outage, or Kafka's metadata not yet showing the cursor table's changelog.

    faust checks the changelog's partitions against the source topic's from the
    consumer's metadata. On a cluster that has just created the changelog, that
    metadata can still list it with no partitions (seen on three brokers under load:
    "has 0 partitions"). Every campaign meets the same error until the metadata is
    refreshed, so it is no campaign's fault: the step is kept and tried again, like an
    outage, instead of failing the campaign.
    """
    return is_outage(error) or isinstance(error, PartitionsMismatch)


async def with_retries(
    settings: DispatcherSettings, campaign_id: str, step: Callable[[], Awaitable[None]]
) -> Exception | None:
    """Run an idempotent step, trying it again on any error; the last error, or None."""
    last: Exception | None = None
    backoff = Backoff.fixed(settings.batch_retry_delay_ms)
    for attempt in range(settings.batch_retry_attempts + 1):
        try:
            await step()
            return None
        except Exception as error:
            last = error
            log.warning(
                "dispatcher step failed",
                extra={"campaign_id": campaign_id, "attempt": attempt + 1, "reason": repr(error)},
            )
            if attempt < settings.batch_retry_attempts:
                await asyncio.sleep(backoff.delay_s(attempt + 1))
    log.error(
        "dispatcher step failed after its retries",
        extra={"campaign_id": campaign_id, "outage": last is not None and is_infrastructure(last)},
        exc_info=last,
    )
    return last


def failure_reason(error: Exception, attempts: int) -> str:
    return f"dispatcher failed {attempts} times on this campaign: {summarise(error)}"


async def fail_campaign(
    campaigns: CampaignStore, expander: Expander, campaign_id: str, reason: str
) -> bool:
    """Mark the campaign failed with ``reason`` and stop expanding it; True when moved."""
    moved, found = await lifecycle.move(
        campaigns,
        campaign_id,
        FAILABLE,
        lifecycle.FAILED,
        failure_reason=reason,
        finished_at=datetime.now(UTC).isoformat(),
    )
    await expander.abandon(campaign_id)
    log.error(
        "campaign failed",
        extra={"campaign_id": campaign_id, "reason": reason, "previous_status": found},
    )
    return moved
