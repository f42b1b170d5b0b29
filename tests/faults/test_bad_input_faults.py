"""Faults at the seams: a sender dying at the worst moment, and garbage on every topic."""

from __future__ import annotations

import asyncio
import base64

from devstack.processes import is_running
from shared.events.models import DeadLetter
from shared.topics import Topics
from tests.faults.harness import PACED, VALID, FaultRun
from tests.helpers import eventually_sync
from tests.kafka_io import publish_raw, reading

CRASH_AFTER = 400


def test_a_sender_killed_between_acceptance_and_ledger_write(
    make_system, sandbox_admin, fault_table
):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=1, **PACED)
    # The second replica kills itself right after Twilio accepted its 400th message,
    # before its ledger knows: the message is in doubt.
    crashing = "sender-crashing"
    system.start_extra(crashing, env={"SENDER_FAULT_CRASH_AFTER_ACCEPTED": str(CRASH_AFTER)})
    run = FaultRun(system, sandbox_admin, "crash before ledger write")
    tracked = system.table.get(crashing)
    assert tracked is not None
    eventually_sync(lambda: not is_running(tracked), timeout_s=120, what="the hook's crash")
    system.table.stop(crashing)
    system.start_extra("sender-2")
    outcome = run.finish()
    fault_table.record(
        "a sender killed between Twilio's acceptance and its ledger write (fault hook)",
        "the claim went stale; the next owner looked the message up at Twilio, found it "
        "and recorded it sent instead of sending again",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)


GARBAGE = b"\x00\xff not an event"
UNKNOWN_VERSION = {
    "campaign.events": b'{"type": "CampaignStarted", "version": 99}',
    "message.commands": b'{"type": "SendMessageBatch", "version": 99}',
    "message.results": b'{"type": "MessageSent", "version": 99}',
}


def test_garbage_and_unknown_versions_on_every_topic(
    make_system, make_settings, sandbox_admin, fault_table
):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=2, **PACED)
    settings = make_settings()
    topics = Topics.from_settings(settings)
    prefix = settings.kafka_topic_prefix
    run = FaultRun(system, sandbox_admin, "garbage on every topic")
    run.wait_sent(VALID // 4)
    bad_records = [(f"{prefix}{name}", value) for name, value in UNKNOWN_VERSION.items()]
    bad_records += [(f"{prefix}{name}", GARBAGE) for name in UNKNOWN_VERSION]
    bad_records.append((topics.dispatcher_ticks, GARBAGE))

    async def inject_and_read() -> list[DeadLetter]:
        async with reading(settings, topics.message_dlq) as dead_letters:
            for topic, value in bad_records:
                await publish_raw(settings, topic, b"bad", value)
            events = await dead_letters.until(
                lambda found: len(found) >= len(bad_records),
                what="every bad record in the DLQ",
                timeout_s=60,
            )
        return [e for e in events if isinstance(e, DeadLetter)]

    letters = asyncio.run(inject_and_read())
    outcome = run.finish()
    fault_table.record(
        "garbage bytes and an unknown event version on campaign.events, message.commands, "
        "message.results and dispatcher.ticks mid-campaign",
        f"{len(letters)} records went to message.dlq with the reason and the original "
        "bytes; every consumer went on",
        outcome,
    )
    assert sorted(
        (letter.source_topic, base64.b64decode(letter.original_base64)) for letter in letters
    ) == sorted(bad_records)
    assert (outcome.lost, outcome.duplicates) == (0, 0)
