"""Starting a campaign: a new job id, the move to queued, its CampaignStarted published.

The api starts a campaign when asked, the dispatcher's schedule poller when its
time comes; both through :func:`start_campaign`. The move is atomic, so of a user
and a schedule starting one campaign at once only one wins. The event is written
before the schedule entry is removed: a crash in between leaves the campaign queued
and scheduled, and the schedule poller publishes it again (a second start of one
campaign is harmless) rather than never.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from shared.events.models import CampaignStarted
from shared.lifecycle import DRAFT, QUEUED, move
from shared.store.campaigns import CampaignRecord, CampaignStore, started_event
from shared.store.recipients import RecipientStore

PublishStart = Callable[[CampaignStarted], Awaitable[None]]


def new_job_id(campaign_id: str, now: datetime) -> str:
    return f"campaign_{campaign_id}_{int(now.timestamp() * 1000)}"


@dataclass(frozen=True, slots=True)
class Start:
    """``record`` and ``event`` are the queued campaign and its published start; both
    None when the campaign was not in a status it could start from (``found``)."""

    found: str | None
    size: int
    record: CampaignRecord | None = None
    event: CampaignStarted | None = None


async def start_campaign(
    campaigns: CampaignStore,
    recipients: RecipientStore,
    campaign_id: str,
    from_statuses: tuple[str, ...] | frozenset[str],
    publish: PublishStart,
    now: datetime,
    *,
    again_if_queued: bool = False,
) -> Start:
    """Queue the campaign and publish its CampaignStarted, then drop its schedule.

    A publish that fails moves the campaign back to where it was and raises: it can be
    started again. With ``again_if_queued``, a campaign found queued already (a crash
    came between the move and the publish) is published again: a second start of one
    campaign is harmless, the expansion continues from its cursor.
    """
    size = await recipients.size(campaign_id)
    moved, found = await move(
        campaigns,
        campaign_id,
        from_statuses,
        QUEUED,
        job_id=new_job_id(campaign_id, now),
        total=str(size),
    )
    if not moved and not (again_if_queued and found == QUEUED):
        return Start(found, size)
    record = await campaigns.get(campaign_id)
    if record is None:
        return Start(found, size)
    event = started_event(record, size)
    try:
        await publish(event)
    except Exception:
        if moved:
            await move(campaigns, campaign_id, (QUEUED,), found or DRAFT, job_id="")
        raise
    await campaigns.unschedule(campaign_id)
    return Start(found, size, record, event)
