"""A command's outcomes are built by the command (shared/events/models.py), and its
commands go to Kafka in records built in one place (services/dispatcher/command_batches.py)."""

from __future__ import annotations

from services.dispatcher.command_batches import by_first_contact, by_position, command_records
from services.dispatcher.decisions import cancelled, skipped_opted_out
from shared.events.models import (
    MessageCancelled,
    MessageDeferred,
    MessageFailed,
    MessageSent,
    MessageSkipped,
    SendMessage,
    SendMessageBatch,
    TextContent,
)


def _command(contact_id: str = "k1", batch_index: int = 2, attempt: int = 3) -> SendMessage:
    return SendMessage(
        campaign_id="c1",
        contact_id=contact_id,
        to="whatsapp:+34600000001",
        from_number="whatsapp:+14155238886",
        content=TextContent(body="hi"),
        attempt=attempt,
        batch_index=batch_index,
    )


def _who(outcome) -> tuple:
    return (
        outcome.campaign_id,
        outcome.contact_id,
        outcome.to,
        outcome.attempt,
        outcome.batch_index,
    )


def test_every_outcome_names_the_command_it_answers() -> None:
    command = _command()
    expected = ("c1", "k1", "whatsapp:+34600000001", 3, 2)
    outcomes = [
        command.sent("SM1"),
        command.failed(30003, "unreachable", retryable=True),
        command.cancelled("expired"),
        command.skipped("opted_out"),
        command.deferred(),
    ]
    assert [_who(outcome) for outcome in outcomes] == [expected] * 5


def test_each_outcome_carries_its_own_fields() -> None:
    command = _command()
    sent = command.sent("SM1")
    assert isinstance(sent, MessageSent) and sent.message_sid == "SM1"
    failed = command.failed(None, "no answer", retryable=False)
    assert isinstance(failed, MessageFailed)
    assert (failed.error_code, failed.error_message, failed.retryable) == (None, "no answer", False)
    assert command.cancelled().reason == "stopped"
    assert isinstance(command.cancelled("expired"), MessageCancelled)
    skipped = command.skipped("duplicate")
    assert isinstance(skipped, MessageSkipped) and skipped.reason == "duplicate"
    deferred = command.deferred()
    assert isinstance(deferred, MessageDeferred) and deferred.reason == "paused"
    assert command.outcome(MessageSent, message_sid="SM2").message_sid == "SM2"


def test_the_dispatcher_decides_outcomes_with_the_same_builder() -> None:
    commands = [_command("k1"), _command("k2")]
    assert [event.contact_id for event in cancelled(commands, "expired")] == ["k1", "k2"]
    assert all(event.reason == "expired" for event in cancelled(commands, "expired"))
    assert [event.reason for event in skipped_opted_out(commands)] == ["opted_out"] * 2


def test_commands_are_cut_into_records_of_at_most_per_record() -> None:
    commands = [_command(f"k{i}", batch_index=4) for i in range(5)]
    records = command_records("c1", commands, 2, by_position("c1", 4))
    assert [key for key, _ in records] == [b"c1:4:0", b"c1:4:2", b"c1:4:4"]
    batches = [batch for _, batch in records]
    assert all(isinstance(batch, SendMessageBatch) for batch in batches)
    assert [[c.contact_id for c in batch.commands] for batch in batches] == [
        ["k0", "k1"],
        ["k2", "k3"],
        ["k4"],
    ]
    assert {batch.batch_index for batch in batches} == {4}


def test_released_commands_are_keyed_by_their_first_contact() -> None:
    commands = [_command(f"k{i}") for i in range(3)]
    records = command_records("c1", commands, 2, by_first_contact("c1", "held"))
    assert [key for key, _ in records] == [b"c1:held:k0", b"c1:held:k2"]
    assert command_records("c1", [], 2, by_first_contact("c1", "held")) == []
