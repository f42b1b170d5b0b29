"""A campaign's statuses and the moves between them: the one module that knows them.

Every other module names a status through the constants here and asks this module
which moves are allowed. A status is written only by ``move`` (or the store's atomic
``transition`` it wraps), so two writers racing (a stop and the dispatcher's start, a
pause and the last result) cannot both win: the loser finds the status it lost to.

::

    draft ──────┐
    scheduled ──┴─ start ─> queued ─> sending <─> throttled      (the tier's hold)
                                        │  ^
                                 pause  v  │ resume
                                      paused
    any status before a final one ─ stop ─> stopped
    any status before a final one ── its last contact's outcome ──> completed
    any status before a final one ── the dispatcher gives up ──> failed
    scheduled ── its schedule event not written ──> draft

A move the api makes before it writes the event that announces it is undone when the
event cannot be written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, Protocol, get_args

from shared.events.models import CampaignControl, CampaignPaused, CampaignResumed, CampaignStopped


class Transitions(Protocol):
    """Where statuses are stored (shared/store/campaigns.py's CampaignStore): named by
    its one method, so that the store may import this module and not the other way."""

    async def transition(
        self, campaign_id: str, allowed: Iterable[str], status: str, **fields: str
    ) -> tuple[bool, str | None]: ...


CampaignStatus = Literal[
    "draft",
    "scheduled",
    "queued",
    "sending",
    "throttled",
    "paused",
    "stopped",
    "completed",
    "failed",
]
STATUSES: Final[tuple[CampaignStatus, ...]] = get_args(CampaignStatus)
# What a person may do to a campaign: the api's start and control routes.
Action = Literal["start", "pause", "resume", "stop"]

DRAFT: Final = "draft"
SCHEDULED: Final = "scheduled"
QUEUED: Final = "queued"
SENDING: Final = "sending"
THROTTLED: Final = "throttled"
PAUSED: Final = "paused"
STOPPED: Final = "stopped"
COMPLETED: Final = "completed"
FAILED: Final = "failed"

# No move leaves these: the campaign's story is over.
FINAL: Final = frozenset({STOPPED, COMPLETED, FAILED})
# Not sending now, and will again without a new start: a person's pause, or the
# sender's messaging tier (throttled) until it has room.
HOLDING: Final = frozenset({PAUSED, THROTTLED})
# Waiting for someone to start it (a person, or its schedule).
NOT_STARTED: Final = (DRAFT, SCHEDULED)
# Started and not over: the api shows progress, the pacer ticks it.
RUNNING: Final = (QUEUED, SENDING, THROTTLED, PAUSED)
# What the dispatcher may move to sending when it begins the expansion: a start
# event may come from another service straight onto Kafka, for a draft too.
BEGINS_SENDING_FROM: Final = (DRAFT, SCHEDULED, QUEUED)
# Everything before a final status: what a stop or a failure may leave.
NOT_FINAL: Final = tuple(status for status in STATUSES if status not in FINAL)
# The sender's messaging tier is used up: a sending campaign is held, a throttled one
# has its time to send again moved on. It sends again once nothing waits for the tier.
THROTTLES_FROM: Final = (SENDING, THROTTLED)


@dataclass(frozen=True, slots=True)
class Control:
    """A person's control action: the event it publishes, where it leads, whence."""

    action: Action
    event: type[CampaignControl]
    status: CampaignStatus
    allowed_from: tuple[CampaignStatus, ...]

    @property
    def mirrored_from(self) -> tuple[CampaignStatus, ...]:
        """What a service that only reads the event moves to ``status``: the api moved
        the campaign before it wrote the event, so there the move changes nothing."""
        return (*self.allowed_from, self.status)


# Anything else is a 409: pausing a paused or finished campaign, resuming one that is
# not paused, stopping a finished one.
CONTROLS: Final = {
    "pause": Control("pause", CampaignPaused, PAUSED, (QUEUED, SENDING, THROTTLED)),
    "resume": Control("resume", CampaignResumed, SENDING, (PAUSED,)),
    "stop": Control("stop", CampaignStopped, STOPPED, NOT_FINAL),
}
CONTROL_OF_EVENT: Final = {control.event: control for control in CONTROLS.values()}


def is_final(status: str | None) -> bool:
    return status in FINAL


def is_holding(status: str | None) -> bool:
    return status in HOLDING


def allowed_actions(status: str | None) -> list[Action]:
    """What a person may do to a campaign in ``status``: ``start`` and the controls.

    The api returns it on every campaign, so the web page shows the buttons this table
    allows and carries no copy of it. Only a final status allows nothing: every other
    one can be stopped."""
    actions: list[Action] = ["start"] if status in NOT_STARTED else []
    actions.extend(c.action for c in CONTROLS.values() if status in c.allowed_from)
    return actions


def has_expired(expires_at: datetime | None, now: datetime) -> bool:
    """Whether a campaign (or one of its commands) with ``expires_at`` is past it at
    ``now``: what is left of it is cancelled as expired, never sent. The caller passes
    ``now`` (tests pass their own); a naive time is read as UTC."""
    if expires_at is None:
        return False
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return now >= expires_at


async def move(
    campaigns: Transitions,
    campaign_id: str,
    allowed_from: tuple[str, ...] | frozenset[str],
    status: str,
    **fields: str,
) -> tuple[bool, str | None]:
    """Set ``status`` (and ``fields``) if the campaign is in one of ``allowed_from``.

    Atomic. Returns whether it moved and the status found (None: no such campaign)."""
    return await campaigns.transition(campaign_id, tuple(allowed_from), status, **fields)
