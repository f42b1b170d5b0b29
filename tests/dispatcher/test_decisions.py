"""The dispatcher's decisions on plain data (services/dispatcher/decisions.py): what a
tick does, what a batch emits, skips and holds, what the releaser does with held commands."""

from datetime import UTC, datetime, timedelta

import pytest

from services.dispatcher.admission import Admitted
from services.dispatcher.decisions import (
    ReleaseStep,
    TickStep,
    batches_emitted,
    build_batch,
    cancelled_batch,
    emit_credits,
    holds,
    new_record,
    release_step,
    sender_chooser,
    tick_step,
)
from shared.events.models import (
    CampaignStarted,
    InlineAudience,
    MessageFailed,
    MessageSkipped,
    Recipient,
    SendMessage,
    TextContent,
)
from shared.lifecycle import PAUSED, SENDING, STOPPED, THROTTLED
from shared.personalise import MAX_TEXT_LENGTH
from shared.senders import RateLimits, SenderDirectory

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
PAST = NOW - timedelta(minutes=1)
FUTURE = NOW + timedelta(minutes=1)


def _started(body: str = "Hola {{name}}", **extra: object) -> CampaignStarted:
    return CampaignStarted(
        campaign_id="c1",
        job_id="j1",
        content=TextContent(body=body),
        audience=InlineAudience(recipients=[Recipient(contact_id="k0", phone="+34600000000")]),
        **extra,
    )


def _directory(pools: dict[str, list[str]] | None = None) -> SenderDirectory:
    return SenderDirectory([], pools or {}, RateLimits(1, 60, 3600))


def _command(contact_id: str) -> SendMessage:
    return SendMessage(
        campaign_id="c1",
        contact_id=contact_id,
        to="whatsapp:+34600000000",
        from_number="whatsapp:+15550000000",
        content=TextContent(body="hi"),
        batch_index=0,
    )


# A tick


def test_a_tick_past_the_audience_finishes_without_looking_at_the_status() -> None:
    assert tick_step(10, 10, STOPPED, PAST, NOW) == TickStep("finish")


def test_a_stop_is_read_before_the_expiry() -> None:
    assert tick_step(0, 10, STOPPED, PAST, NOW) == TickStep("cancel", "stopped")
    assert tick_step(0, 10, SENDING, PAST, NOW) == TickStep("cancel", "expired")
    assert tick_step(0, 10, PAUSED, PAST, NOW) == TickStep("cancel", "expired")


@pytest.mark.parametrize("status", [PAUSED, THROTTLED])
def test_a_held_campaign_waits(status: str) -> None:
    assert tick_step(0, 10, status, FUTURE, NOW) == TickStep("wait")


def test_a_running_campaign_emits() -> None:
    assert tick_step(0, 10, SENDING, None, NOW) == TickStep("emit")
    assert tick_step(0, 10, None, FUTURE, NOW) == TickStep("emit")


def test_held_commands_count_as_done_for_the_credits() -> None:
    # 20 out, 5 done: two batches of 10 in flight, none left of 2.
    assert emit_credits(20, 5, {}, 10, 2) == 0
    # 10 of them held for a window: one batch in flight.
    assert emit_credits(20, 5, {"window": 6, "tier": 4}, 10, 2) == 1
    assert batches_emitted(21, 10) == 3 and batches_emitted(0, 10) == 0


def test_the_rest_of_a_stopped_campaign_is_cancelled_by_batch() -> None:
    recipients = [Recipient(contact_id=f"k{i}", phone="+34600000000") for i in range(3)]
    cancelled = cancelled_batch("c1", 23, 10, recipients, "stopped")
    assert (cancelled.batch_index, cancelled.contact_ids) == (2, ["k0", "k1", "k2"])
    assert cancelled.reason == "stopped"


def test_a_start_from_another_service_makes_a_sending_record() -> None:
    record = new_record(_started(name="n", owner_id="u1"), 7, NOW)
    assert (record.id, record.status, record.total, record.job_id) == ("c1", SENDING, 7, "j1")
    assert record.started_at == record.created_at == NOW


# A batch


def test_a_batch_skips_invalid_and_duplicate_recipients_and_fails_unsendable_ones() -> None:
    recipients = [
        Recipient(contact_id="a", phone="+34600000001", name="Ana"),
        Recipient(contact_id="b", phone="nope"),
        Recipient(contact_id="a", phone="+34600000003"),
        Recipient(contact_id="d", phone="+34600000001"),
        Recipient(contact_id="e", phone="+34600000005", name="x" * MAX_TEXT_LENGTH),
    ]
    claims = [
        ("+34600000001", False, False),
        (None, False, False),
        ("+34600000003", True, False),
        ("+34600000001", False, True),
        ("+34600000005", False, False),
    ]
    batch = build_batch(_started(), 4, 40, recipients, claims, lambda _p: "whatsapp:+1555")
    assert [c.contact_id for c in batch.commands] == ["a"]
    command = batch.commands[0]
    assert command.content == TextContent(body="Hola Ana")
    assert (command.to, command.from_number, command.batch_index) == (
        "whatsapp:+34600000001",
        "whatsapp:+1555",
        4,
    )
    assert batch.fields_by_contact == {"a": {"phone": "+34600000001", "name": "Ana"}}
    outcomes = [(type(r), r.contact_id, getattr(r, "reason", None)) for r in batch.results]
    assert outcomes == [
        (MessageSkipped, "b", "invalid"),
        (MessageSkipped, "a@42", "duplicate"),
        (MessageSkipped, "d", "duplicate"),
        (MessageFailed, "e", None),
    ]


def test_the_sender_is_the_campaigns_or_its_pools() -> None:
    directory = _directory({"MG1": ["+15550000001"]})
    assert sender_chooser(_started(), directory, "+15559999999")("+34600000000") == (
        "whatsapp:+15559999999"
    )
    own = _started(from_number="+15550000002")
    assert sender_chooser(own, directory, "+1")("+34600000000") == "whatsapp:+15550000002"
    pooled = _started(messaging_service_sid="MG1")
    assert sender_chooser(pooled, directory, "+1")("+34600000000") == "whatsapp:+15550000001"
    unknown = _started(messaging_service_sid="MG9")
    assert sender_chooser(unknown, directory, "+15559999999")("+3460") == "whatsapp:+15559999999"


def test_admission_holds_by_reason() -> None:
    admitted = Admitted(window_held=[(_command("w"), 5)], tier_held=[(_command("t"), 9)])
    assert [(reason, [c.contact_id for c, _ in held]) for reason, held in holds(admitted)] == [
        ("window", ["w"]),
        ("tier", ["t"]),
    ]


# A release


def test_paused_commands_go_back_once_the_campaign_is_not_paused() -> None:
    assert release_step("paused", PAUSED, False) == ReleaseStep("wait")
    assert release_step("paused", PAUSED, True) == ReleaseStep("wait")
    assert release_step("paused", SENDING, True) == ReleaseStep("release")
    assert release_step("paused", None, False) == ReleaseStep("release")
    assert release_step("paused", STOPPED, False) == ReleaseStep("cancel", "stopped")


@pytest.mark.parametrize("reason", ["window", "tier"])
def test_timed_commands_wait_out_a_pause_unless_expired(reason: str) -> None:
    assert release_step(reason, PAUSED, False) == ReleaseStep("wait")
    assert release_step(reason, PAUSED, True) == ReleaseStep("cancel", "expired")
    assert release_step(reason, STOPPED, True) == ReleaseStep("cancel", "expired")
    assert release_step(reason, STOPPED, False) == ReleaseStep("cancel", "stopped")
    assert release_step(reason, THROTTLED, False) == ReleaseStep("release")
    assert release_step(reason, None, False) == ReleaseStep("release")
