"""The dispatcher's decisions, on plain data: what to emit, what to hold, what to cancel.

Nothing here reads Redis, Kafka or the clock, so nothing here can half-happen in a
crash: the shells that do the I/O (expansion.py and emission.py for a tick,
releases.py for held commands) pass in what they read and carry out what comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.dispatcher.admission import Admitted
from shared.events.models import (
    CampaignStarted,
    CancelReason,
    Event,
    MessageFailed,
    MessagesCancelled,
    MessageSkipped,
    Recipient,
    SendMessage,
)
from shared.lifecycle import PAUSED, SENDING, STOPPED, has_expired, is_holding
from shared.personalise import UnsendableContent, contact_fields, personalise
from shared.phones import whatsapp_address
from shared.senders import SenderDirectory
from shared.store.campaigns import CampaignRecord
from shared.store.holding import PAUSED_REASON, HoldReason

log = logging.getLogger(__name__)

# A claim per recipient: its E.164 phone (None if invalid), and whether an earlier
# audience position holds its contact id, and its phone (services/dispatcher/positions.py).
Claim = tuple[str | None, bool, bool]


@dataclass(frozen=True, slots=True)
class TickStep:
    """What a tick does: ``finish`` (all emitted), ``cancel`` the rest with ``reason``,
    ``wait`` (the campaign is held), or ``emit`` what the credits allow."""

    action: Literal["finish", "cancel", "wait", "emit"]
    reason: CancelReason | None = None


def tick_step(
    cursor: int, total: int, status: str | None, expires_at: datetime | None, now: datetime
) -> TickStep:
    if cursor >= total:
        return TickStep("finish")
    # A stop is read first: it holds whatever is odd about the expiry.
    if status == STOPPED:
        return TickStep("cancel", "stopped")
    if has_expired(expires_at, now):
        return TickStep("cancel", "expired")
    if is_holding(status):
        return TickStep("wait")  # a throttled campaign goes on when the releaser frees it
    return TickStep("emit")


def batch_credits(emitted: int, processed: int, batch_size: int, max_batches: int) -> int:
    """Batches that may be emitted now, with ``emitted`` contacts out and ``processed``
    of them done: a partly finished batch still counts as in flight."""
    in_flight = max(0, emitted - processed)
    return max(0, max_batches - -(-in_flight // batch_size))


def emit_credits(
    cursor: int, processed: int, held: Mapping[str, int], batch_size: int, max_batches: int
) -> int:
    """Batches to emit now. Held commands wait for a time, not for a sender: they return
    no credits, yet they must not hold back the recipients whose window is open."""
    return batch_credits(cursor, processed + sum(held.values()), batch_size, max_batches)


def batches_emitted(cursor: int, batch_size: int) -> int:
    return -(-cursor // batch_size)


def cancelled_batch(
    campaign_id: str,
    start: int,
    batch_size: int,
    recipients: Sequence[Recipient],
    reason: CancelReason,
) -> MessagesCancelled:
    """A stop or expiry: the contacts from ``start`` on, never emitted, end so."""
    return MessagesCancelled(
        campaign_id=campaign_id,
        batch_index=start // batch_size,
        contact_ids=[r.contact_id for r in recipients],
        reason=reason,
        first_position=start,
    )


def new_record(event: CampaignStarted, total: int, now: datetime) -> CampaignRecord:
    """The record of a campaign whose start another service wrote straight to Kafka."""
    return CampaignRecord(
        id=event.campaign_id,
        owner_id=event.owner_id,
        name=event.name,
        status=SENDING,
        priority=event.priority,
        content=event.content,
        from_number=event.from_number,
        total=total,
        job_id=event.job_id,
        created_at=now,
        started_at=now,
    )


def sender_chooser(
    event: CampaignStarted, senders: SenderDirectory, default_from_number: str
) -> Callable[[str], str]:
    """The sender number of each recipient: the campaign's, or one of its pool's."""
    pool = senders.pool(event.messaging_service_sid) if event.messaging_service_sid else None
    if not pool:
        if event.messaging_service_sid:
            log.warning(
                "unknown Messaging Service: sending from the default number",
                extra={"campaign_id": event.campaign_id},
            )
        number = whatsapp_address(event.from_number or default_from_number)
        return lambda _phone: number
    return lambda phone: whatsapp_address(senders.choose(pool, phone))


@dataclass(slots=True)
class Batch:
    """A batch's commands to admit, the outcomes decided without a send, and each
    command's contact fields (for the send window's time zone)."""

    commands: list[SendMessage] = field(default_factory=list)
    results: list[Event] = field(default_factory=list)
    fields_by_contact: dict[str, dict[str, str]] = field(default_factory=dict)


def build_batch(
    event: CampaignStarted,
    batch_index: int,
    start: int,
    recipients: Sequence[Recipient],
    claims: Sequence[Claim],
    choose_sender: Callable[[str], str],
) -> Batch:
    """Each recipient's command, or its outcome: invalid or duplicate (skipped), content
    that cannot be personalised (failed)."""
    batch = Batch()
    for offset, recipient in enumerate(recipients):
        position = start + offset
        phone, duplicate_of_contact, duplicate_of_phone = claims[offset]
        contact_id = recipient.contact_id
        if duplicate_of_contact:
            # Two entries with one contact id: each entry still needs its own outcome.
            contact_id = f"{recipient.contact_id}@{position}"
        common = {
            "campaign_id": event.campaign_id,
            "contact_id": contact_id,
            "to": whatsapp_address(phone or recipient.phone),
            "batch_index": batch_index,
            "position": position,
        }
        if phone is None:
            batch.results.append(MessageSkipped(reason="invalid", **common))
        elif duplicate_of_contact or duplicate_of_phone:
            batch.results.append(MessageSkipped(reason="duplicate", **common))
        else:
            fields = contact_fields(recipient, phone)
            try:
                content = personalise(event.content, fields)
            except UnsendableContent as reason:
                batch.results.append(
                    MessageFailed(
                        error_code=None, error_message=str(reason), retryable=False, **common
                    )
                )
                continue
            batch.fields_by_contact[contact_id] = fields
            batch.commands.append(
                SendMessage(
                    from_number=choose_sender(phone),
                    content=content,
                    expires_at=event.expires_at,
                    priority=event.priority,
                    **common,
                )
            )
    return batch


def holds(admitted: Admitted) -> list[tuple[HoldReason, list[tuple[SendMessage, int]]]]:
    """What admission set aside, by reason, with due times."""
    return [("window", admitted.window_held), ("tier", admitted.tier_held)]


def skipped_opted_out(commands: Sequence[SendMessage]) -> list[Event]:
    return [command.skipped("opted_out") for command in commands]


@dataclass(frozen=True, slots=True)
class ReleaseStep:
    """What the releaser does with a campaign's commands held for one reason: ``wait``,
    ``release`` the due ones, or ``cancel`` them all with ``reason``."""

    action: Literal["wait", "release", "cancel"]
    reason: CancelReason | None = None


def release_step(reason: HoldReason, status: str | None, expired: bool) -> ReleaseStep:
    """Paused commands go back to the senders once the campaign is no longer paused
    (they check the expiry there). Timed ones are cancelled when the campaign stopped
    or expired: held for a window or a tier that opens after the expiry, they would
    only wait to expire, keeping the campaign from ending meanwhile."""
    if reason == PAUSED_REASON:
        if status == PAUSED:
            return ReleaseStep("wait")
        return ReleaseStep("cancel", "stopped") if status == STOPPED else ReleaseStep("release")
    if status == PAUSED and not expired:
        return ReleaseStep("wait")
    if status == STOPPED or expired:
        return ReleaseStep("cancel", "expired" if expired else "stopped")
    return ReleaseStep("release")


def cancelled(commands: Sequence[SendMessage], reason: CancelReason = "stopped") -> list[Event]:
    return [command.cancelled(reason) for command in commands]
