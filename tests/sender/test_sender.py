"""The sender against the real Kafka, Redis and Twilio sandbox, in the test's event loop."""

from __future__ import annotations

import asyncio
import base64
import bisect
import json

from services.sender.outcomes import OutcomePublisher
from shared.events import decode, encode
from shared.events.models import (
    DeadLetter,
    MessageCancelled,
    MessageFailed,
    MessageSent,
)
from shared.kafka import make_producer
from shared.redis import Keys
from shared.store.campaign_status import StatusCache
from shared.topics import Topics
from shared.twilio_client import make_twilio_client
from tests.helpers import eventually
from tests.sender.conftest import (
    FAST_LIMITS,
    Numbers,
    batches_of,
    digits_of,
    now_ms,
    text_command,
)

TIMEOUT_S = 60


def _most_in_any_window(times_ms: list[int], window_ms: int) -> int:
    ordered = sorted(times_ms)
    return max(
        bisect.bisect_left(ordered, start + window_ms) - index
        for index, start in enumerate(ordered)
    )


def _by_contact(events: list) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for event in events:
        grouped.setdefault(event.contact_id, []).append(event)
    return grouped


async def _ledger_states(redis, settings, campaign_id: str) -> dict[str, dict]:
    raw = await redis.hgetall(Keys(settings.redis_key_prefix)("ledger", campaign_id))
    return {field.decode(): json.loads(value) for field, value in raw.items()}


async def _run_valid_and_invalid_round(
    settings, numbers, sandbox, start_sender, read_topic, command_producer
):
    campaign_id = "camp-mixed"
    valid = [
        text_command(campaign_id, f"c{i}", numbers.recipient(i), numbers.sender) for i in range(20)
    ]
    invalid = [
        text_command(campaign_id, f"bad{i}", numbers.recipient(i, "0000"), numbers.sender)
        for i in range(2)
    ]
    commands = valid[:10] + invalid[:1] + valid[10:] + invalid[1:]
    await start_sender(settings)
    results = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = await command_producer(settings)
    for batch in batches_of(campaign_id, commands, size=5):
        await producer.publish(batch)
    await eventually(
        lambda: _async(len(results.events) >= 22), timeout_s=TIMEOUT_S, what="22 results"
    )
    return campaign_id, valid, invalid, commands, results, producer


async def _async(value):
    return value


async def test_valid_recipients_get_one_message_and_invalid_ones_fail(
    sender_settings, numbers, sandbox, redis, start_sender, read_topic, command_producer
) -> None:
    await sandbox.set_faults(mps=1000)
    started_ms = now_ms()
    settings = sender_settings(**FAST_LIMITS)
    campaign_id, valid, invalid, _, results, _ = await _run_valid_and_invalid_round(
        settings, numbers, sandbox, start_sender, read_topic, command_producer
    )

    accepted = await sandbox.ledger_from(numbers.sender, started_ms)
    assert sorted(m["to"] for m in accepted) == sorted(c.to for c in valid)
    sid_by_to = {m["to"]: m["sid"] for m in accepted}
    sent = results.of_type(MessageSent)
    failed = results.of_type(MessageFailed)
    assert len(sent) == 20 and len(failed) == 2 and len(results.events) == 22
    assert {e.contact_id: e.message_sid for e in sent} == {
        c.contact_id: sid_by_to[c.to] for c in valid
    }
    assert {e.contact_id for e in failed} == {c.contact_id for c in invalid}
    assert all(e.error_code == 21211 and not e.retryable for e in failed)
    assert all(e.campaign_id == campaign_id for e in results.events)
    assert {r.key for r in results.records} == {campaign_id.encode()}

    ledger = await _ledger_states(redis, settings, campaign_id)
    assert {contact: entry["state"] for contact, entry in ledger.items()} == {
        **{c.contact_id: "sent" for c in valid},
        **{c.contact_id: "failed" for c in invalid},
    }
    assert all(ledger[e.contact_id]["sid"] == e.message_sid for e in sent)
    assert all(ledger[c.contact_id]["code"] == 21211 for c in invalid)
    assert 0 < await redis.ttl(Keys(settings.redis_key_prefix)("ledger", campaign_id)) <= 7 * 86400


async def test_a_redelivered_batch_re_emits_outcomes_without_sending(
    sender_settings, numbers, sandbox, redis, start_sender, read_topic, command_producer
) -> None:
    await sandbox.set_faults(mps=1000)
    started_ms = now_ms()
    settings = sender_settings(**FAST_LIMITS)
    campaign_id, valid, _, commands, results, producer = await _run_valid_and_invalid_round(
        settings, numbers, sandbox, start_sender, read_topic, command_producer
    )
    first_round = list(results.events)

    for batch in batches_of(campaign_id, commands, size=5):
        await producer.publish(batch)
    await eventually(
        lambda: _async(len(results.events) >= 44), timeout_s=TIMEOUT_S, what="44 results"
    )

    accepted = await sandbox.ledger_from(numbers.sender, started_ms)
    assert len(accepted) == len(valid)
    again = results.events[22:]
    assert len(again) == 22

    def outcome(event) -> tuple:
        if isinstance(event, MessageSent):
            return ("sent", event.message_sid)
        return ("failed", event.error_code, event.retryable)

    assert {e.contact_id: outcome(e) for e in again} == {
        e.contact_id: outcome(e) for e in first_round
    }


async def test_fifty_messages_at_ten_per_second_are_paced_without_429(
    sender_settings, numbers, sandbox, start_sender, read_topic, command_producer
) -> None:
    started_ms = now_ms()
    counts_before = await sandbox.response_counts()
    settings = sender_settings()  # default limits: 10/s, 600/min, 36,000/h; sandbox at 10 MPS
    campaign_id = "camp-paced"
    commands = [
        text_command(campaign_id, f"c{i}", numbers.recipient(i), numbers.sender) for i in range(50)
    ]
    await start_sender(settings)
    results = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = await command_producer(settings)
    for batch in batches_of(campaign_id, commands, size=25):
        await producer.publish(batch)
    await eventually(
        lambda: _async(len(results.events) >= 50), timeout_s=TIMEOUT_S, what="50 results"
    )

    assert len(results.of_type(MessageSent)) == 50
    accepted = await sandbox.ledger_from(numbers.sender, started_ms)
    times_ms = [m["accepted_at_ms"] for m in accepted]
    assert len(times_ms) == 50
    assert max(times_ms) - min(times_ms) >= 4_500
    assert _most_in_any_window(times_ms, 1_000) <= 10
    counts_after = await sandbox.response_counts()
    assert counts_after.get("429", 0) == counts_before.get("429", 0), counts_after
    assert counts_after.get("201", 0) - counts_before.get("201", 0) >= 50


async def test_a_stopped_campaign_is_cancelled_not_sent(
    sender_settings, numbers, sandbox, redis, start_sender, read_topic, command_producer
) -> None:
    await sandbox.set_faults(mps=1000)
    started_ms = now_ms()
    settings = sender_settings(**FAST_LIMITS)
    campaign_id = "camp-stopped"
    await StatusCache(redis, Keys(settings.redis_key_prefix)).write(campaign_id, 1, "stopped")
    commands = [
        text_command(campaign_id, f"c{i}", numbers.recipient(i), numbers.sender) for i in range(6)
    ]
    await start_sender(settings)
    results = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = await command_producer(settings)
    for batch in batches_of(campaign_id, commands, size=3):
        await producer.publish(batch)
    await eventually(lambda: _async(len(results.events) >= 6), timeout_s=TIMEOUT_S, what="6")

    cancelled = results.of_type(MessageCancelled)
    assert len(cancelled) == 6 == len(results.events)
    assert {e.contact_id for e in cancelled} == {c.contact_id for c in commands}
    assert all(e.reason == "stopped" for e in cancelled)
    assert await sandbox.ledger_from(numbers.sender, started_ms) == []


async def test_in_doubt_claims_are_reconciled_with_twilio_before_any_resend(
    sender_settings, numbers, sandbox, redis, start_sender, read_topic, command_producer
) -> None:
    await sandbox.set_faults(mps=1000)
    started_ms = now_ms()
    settings = sender_settings(**FAST_LIMITS, twilio_timeout_s=2, ledger_claim_margin_s=1)
    campaign_id = "camp-in-doubt"
    already_sent = text_command(campaign_id, "accepted", numbers.recipient(1), numbers.sender)
    never_sent = text_command(campaign_id, "lost", numbers.recipient(2), numbers.sender)

    # A replica claimed both, got the first one accepted by Twilio, and died.
    client = make_twilio_client(
        *settings.twilio_credentials, settings.twilio_base_url, use_async=True
    )
    try:
        existing = await client.messages.create_async(
            to=already_sent.to, from_=already_sent.from_number, body=already_sent.content.body
        )
    finally:
        await client.http_client.close()
    dead_claim = json.dumps(
        {
            "state": "claimed",
            "sid": None,
            "code": None,
            "at_ms": now_ms() - 10_000,
            "replica": "dead",
        }
    )
    ledger_key = Keys(settings.redis_key_prefix)("ledger", campaign_id)
    await redis.hset(ledger_key, mapping={"accepted": dead_claim, "lost": dead_claim})

    await start_sender(settings)
    results = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = await command_producer(settings)
    for batch in batches_of(campaign_id, [already_sent, never_sent], size=2):
        await producer.publish(batch)
    await eventually(lambda: _async(len(results.events) >= 2), timeout_s=TIMEOUT_S, what="2")

    sent = {e.contact_id: e.message_sid for e in results.of_type(MessageSent)}
    accepted = await sandbox.ledger_from(numbers.sender, started_ms)
    assert [m["sid"] for m in accepted if m["to"] == already_sent.to] == [existing.sid]
    resent = [m["sid"] for m in accepted if m["to"] == never_sent.to]
    assert len(resent) == 1
    assert sent == {"accepted": existing.sid, "lost": resent[0]}
    ledger = await _ledger_states(redis, settings, campaign_id)
    assert {k: (v["state"], v["sid"]) for k, v in ledger.items()} == {
        "accepted": ("sent", existing.sid),
        "lost": ("sent", resent[0]),
    }


async def test_a_fresh_claim_of_a_live_sibling_is_not_sent_again(
    sender_settings, numbers, sandbox, redis, start_sender, read_topic, command_producer
) -> None:
    await sandbox.set_faults(mps=1000)
    started_ms = now_ms()
    settings = sender_settings(**FAST_LIMITS)
    campaign_id = "camp-busy"
    command = text_command(campaign_id, "busy", numbers.recipient(3), numbers.sender)
    ledger_key = Keys(settings.redis_key_prefix)("ledger", campaign_id)
    sibling_claim = {"state": "claimed", "sid": None, "code": None, "replica": "sibling"}
    await redis.hset(ledger_key, "busy", json.dumps({**sibling_claim, "at_ms": now_ms()}))

    service = await start_sender(settings)
    results = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = await command_producer(settings)
    await producer.publish(command)
    assert service.consumer is not None
    await eventually(
        lambda: _async(service.consumer.commands_in_flight == 1),
        timeout_s=TIMEOUT_S,
        what="the command taken in",
    )
    # The sender holds the command while the sibling's claim is fresh: no outcome yet.
    assert results.events == []

    # The sibling finishes: its outcome is what this sender reports, and it sends nothing.
    await redis.hset(
        ledger_key,
        "busy",
        json.dumps({**sibling_claim, "state": "sent", "sid": "SMsibling", "at_ms": now_ms()}),
    )
    await eventually(lambda: _async(len(results.events) >= 1), timeout_s=TIMEOUT_S, what="1")
    assert [(e.contact_id, e.message_sid) for e in results.of_type(MessageSent)] == [
        ("busy", "SMsibling")
    ]
    assert await sandbox.ledger_from(numbers.sender, started_ms) == []


# Half the calls fail in the two tests below, so ten failures in a row (the breaker's
# default) happen by chance in about one run in thirty; the open breaker then waits its
# 60 s and the test's deadline passes. The breaker is not their subject.
UNBROKEN = 1_000


async def _thirty_sends_under_faults(
    faults: dict,
    campaign_id: str,
    settings,
    numbers,
    sandbox,
    start_sender,
    read_topic,
    command_producer,
) -> dict[str, int]:
    """Send 30 commands while the sandbox injects ``faults``; check each contact got
    exactly one message, reported with its sid. Returns the answers the faults added."""
    await sandbox.set_faults(mps=1000, **faults)
    started_ms = now_ms()
    counts_before = await sandbox.response_counts()
    commands = [
        text_command(campaign_id, f"c{i}", numbers.recipient(i), numbers.sender) for i in range(30)
    ]
    await start_sender(settings)
    results = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = await command_producer(settings)
    for batch in batches_of(campaign_id, commands, size=10):
        await producer.publish(batch)
    await eventually(
        lambda: _async(len(results.events) >= 30), timeout_s=TIMEOUT_S, what="30 results"
    )

    accepted = await sandbox.ledger_from(numbers.sender, started_ms)
    assert sorted(m["to"] for m in accepted) == sorted(c.to for c in commands)
    sid_by_to = {m["to"]: m["sid"] for m in accepted}
    sent = results.of_type(MessageSent)
    assert len(sent) == 30 == len(results.events)
    assert {e.contact_id: e.message_sid for e in sent} == {
        c.contact_id: sid_by_to[c.to] for c in commands
    }
    counts_after = await sandbox.response_counts()
    return {code: counts_after.get(code, 0) - counts_before.get(code, 0) for code in counts_after}


async def test_throttling_and_server_errors_end_in_exactly_one_send_each(
    sender_settings, numbers, sandbox, start_sender, read_topic, command_producer
) -> None:
    added = await _thirty_sends_under_faults(
        {"force_429_rate": 0.3, "error_rate": 0.2},
        "camp-faulty",
        sender_settings(**FAST_LIMITS, send_max_attempts=15, breaker_fail_max=UNBROKEN),
        numbers, sandbox, start_sender, read_topic, command_producer,
    )  # fmt: skip
    # The faults did happen: the test would prove nothing otherwise.
    assert added.get("429", 0) > 0
    assert added.get("500", 0) > 0


async def test_a_500_for_a_message_twilio_accepted_is_found_not_sent_again(
    sender_settings, numbers, sandbox, start_sender, read_topic, command_producer
) -> None:
    # Half the accepted messages are answered 500 all the same: a sender that retried
    # a 5xx without asking Twilio first would send each of those twice.
    added = await _thirty_sends_under_faults(
        {"accepted_error_rate": 0.5},
        "camp-accepted-500",
        sender_settings(**FAST_LIMITS, breaker_fail_max=UNBROKEN),
        numbers, sandbox, start_sender, read_topic, command_producer,
    )  # fmt: skip
    assert added.get("500", 0) >= 5


async def test_garbage_goes_to_the_dlq_and_the_next_command_is_sent(
    sender_settings, numbers, sandbox, start_sender, read_topic, command_producer
) -> None:
    await sandbox.set_faults(mps=1000)
    started_ms = now_ms()
    settings = sender_settings(**FAST_LIMITS)
    topics = Topics.from_settings(settings)
    garbage = b"\x00\xffnot an event"
    unknown = b'{"type": "SendMessage", "version": 99}'
    command = text_command("camp-dlq", "after", numbers.recipient(4), numbers.sender)
    await start_sender(settings)
    results = await read_topic(settings, topics.message_results)
    dead_letters = await read_topic(settings, topics.message_dlq)
    producer = await command_producer(settings)
    await producer.publish_raw(garbage, key=b"camp-dlq")
    await producer.publish_raw(unknown, key=b"camp-dlq")
    await producer.publish(command)

    await eventually(lambda: _async(len(results.events) >= 1), timeout_s=TIMEOUT_S, what="1")
    await eventually(
        lambda: _async(len(dead_letters.events) >= 2), timeout_s=TIMEOUT_S, what="2 dead letters"
    )
    letters = dead_letters.of_type(DeadLetter)
    assert [base64.b64decode(letter.original_base64) for letter in letters] == [garbage, unknown]
    assert all(letter.source_topic == topics.message_commands for letter in letters)
    assert "unknown event type" in letters[1].reason
    assert [e.contact_id for e in results.of_type(MessageSent)] == ["after"]
    assert len(await sandbox.ledger_from(numbers.sender, started_ms)) == 1


async def test_a_send_that_timed_out_is_found_at_twilio_not_sent_again(
    sender_settings, numbers, sandbox, redis, start_sender, read_topic, command_producer
) -> None:
    # Accepted at once, answered after the sender gave up: the outcome is unknown to it.
    await sandbox.set_faults(mps=1000, latency_ms=1_000)
    started_ms = now_ms()
    settings = sender_settings(**FAST_LIMITS, twilio_timeout_s=0.3)
    campaign_id = "camp-timeout"
    commands = [
        text_command(campaign_id, f"c{i}", numbers.recipient(i), numbers.sender) for i in range(3)
    ]
    await start_sender(settings)
    results = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = await command_producer(settings)
    await producer.publish(batches_of(campaign_id, commands, size=3)[0])
    await eventually(lambda: _async(len(results.events) >= 3), timeout_s=TIMEOUT_S, what="3")

    accepted = await sandbox.ledger_from(numbers.sender, started_ms)
    assert sorted(m["to"] for m in accepted) == sorted(c.to for c in commands)
    sid_by_to = {m["to"]: m["sid"] for m in accepted}
    assert {e.contact_id: e.message_sid for e in results.of_type(MessageSent)} == {
        c.contact_id: sid_by_to[c.to] for c in commands
    }


async def test_commands_behind_a_slow_campaign_are_read_ahead_and_sent(
    sender_settings, numbers, unique_prefix, sandbox, start_sender, read_topic, command_producer
) -> None:
    # Every sender number may send once a second: campaign A's 100 commands need
    # 100 s, campaign B's 3, on another number, about 2 s. B's record comes after
    # all of A's in the same partition, 2 records per fetch: only a consumer that
    # fetches on while A's commands wait gets to B before A is done.
    await sandbox.set_faults(mps=1000)
    settings = sender_settings(
        twilio_rate_limit_per_second=1,
        sender_fetch_max_records=2,
        sender_drain_timeout_s=1,
    )
    other_sender = Numbers(digits_of(f"{unique_prefix}b", 10)).sender
    slow = [
        text_command("camp-slow", f"a{i}", numbers.recipient(i), numbers.sender) for i in range(100)
    ]
    quick = [
        text_command("camp-quick", f"b{i}", numbers.recipient(i), other_sender) for i in range(3)
    ]
    service = await start_sender(settings)
    results = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = await command_producer(settings)
    for batch in [*batches_of("camp-slow", slow, size=5), *batches_of("camp-quick", quick, 3)]:
        value, headers = encode(batch, source="/tests/sender")
        await producer.producer.send_and_wait(
            producer.topics.message_commands,
            value,
            key=batch.campaign_id.encode(),
            headers=headers,
            partition=0,
        )

    def outcomes_of(campaign_id: str) -> list:
        return [e for e in results.events if e.campaign_id == campaign_id]

    await eventually(
        lambda: _async(len(outcomes_of("camp-quick")) >= 3),
        timeout_s=TIMEOUT_S,
        what="the quick campaign's 3 outcomes",
    )
    assert {
        e.contact_id for e in results.of_type(MessageSent) if e.campaign_id == "camp-quick"
    } == {c.contact_id for c in quick}
    # A is far from done: its commands are still waiting for their turn.
    assert len(outcomes_of("camp-slow")) < 50
    assert service.consumer is not None
    assert service.consumer.commands_in_flight >= 50


async def test_outcomes_of_many_campaigns_go_out_in_batches_each_under_its_campaign(
    sender_settings, read_topic
) -> None:
    """Outcomes finished together are published as one record batch per partition:
    every one acknowledged, each a record of its own keyed by its campaign."""
    settings = sender_settings()
    reader = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = make_producer(settings)
    await producer.start()
    try:
        publisher = OutcomePublisher(
            producer, Topics.from_settings(settings).message_results, "/tests/sender"
        )
        campaigns = [f"campaign-{i}" for i in range(8)]  # spread over several partitions
        outcomes = [
            MessageSent(
                campaign_id=campaign,
                contact_id=f"contact-{n}",
                to=f"whatsapp:+3461100{n:04d}",
                attempt=1,
                batch_index=0,
                message_sid=f"SM{n:032d}",
            )
            for n, campaign in enumerate(c for c in campaigns for _ in range(25))
        ]
        await asyncio.gather(*(publisher.publish(outcome) for outcome in outcomes))
    finally:
        await producer.stop()

    async def all_read() -> bool:
        return len(reader.records) >= len(outcomes)

    await eventually(all_read, timeout_s=TIMEOUT_S, what="every outcome on message.results")
    assert sorted((e.campaign_id, e.contact_id) for e in reader.events) == sorted(
        (o.campaign_id, o.contact_id) for o in outcomes
    )
    assert all(record.key == decode(record.value).campaign_id.encode() for record in reader.records)
    # A campaign's outcomes share one partition, so they stay in order.
    partitions = {(r.key, r.partition) for r in reader.records}
    assert len(partitions) == len(campaigns)
