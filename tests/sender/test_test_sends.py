"""Test sends in the sender: sent whatever their campaign's status, in a lane of their
own, without a status callback, their outcome flagged."""

from __future__ import annotations

from services.sender.twilio_gateway import message_form
from shared.events.models import MessageDeferred, MessageSent
from shared.redis import Keys
from shared.store.campaign_status import StatusCache
from shared.test_sends import is_test_lane, lane_of_test_sends, new_test_contact_id
from shared.topics import Topics
from tests.helpers import eventually
from tests.sender.conftest import FAST_LIMITS, batches_of, now_ms, text_command

TIMEOUT_S = 60


def _test_command(campaign_id: str, to: str, sender: str):
    command = text_command(campaign_id, new_test_contact_id(), to, sender)
    return command.model_copy(update={"test_send": True})


def test_a_test_send_gives_twilio_no_status_callback_and_flags_its_outcomes() -> None:
    command = _test_command("c1", "whatsapp:+15550001234", "whatsapp:+15550009999")
    assert "StatusCallback" not in message_form(command, "https://cq.example.org")
    assert command.sent("SM1").test_send
    assert command.failed(21211, "invalid", retryable=False).test_send
    plain = text_command("c1", "k1", "whatsapp:+15550001234", "whatsapp:+15550009999")
    assert not plain.sent("SM2").test_send


def test_lanes_of_test_sends_are_never_campaign_ids() -> None:
    assert is_test_lane(lane_of_test_sends("c1"))
    assert not is_test_lane("c1")
    assert new_test_contact_id().startswith("test-send:")


async def test_a_paused_campaigns_test_send_goes_out_and_its_own_message_waits(
    sender_settings, numbers, sandbox, redis, start_sender, read_topic, command_producer
) -> None:
    await sandbox.set_faults(mps=1000)
    started_ms = now_ms()
    settings = sender_settings(**FAST_LIMITS)
    campaign_id = "camp-paused-tested"
    await StatusCache(redis, Keys(settings.redis_key_prefix)).write(campaign_id, 1, "paused")
    test = _test_command(campaign_id, numbers.recipient(1), numbers.sender)
    own = text_command(campaign_id, "c0", numbers.recipient(0), numbers.sender)
    await start_sender(settings)
    results = await read_topic(settings, Topics.from_settings(settings).message_results)
    producer = await command_producer(settings)
    for batch in batches_of(campaign_id, [test, own], size=1):
        await producer.publish(batch)

    async def both_outcomes() -> bool:
        return len(results.events) >= 2

    await eventually(both_outcomes, timeout_s=TIMEOUT_S, what="two outcomes")

    sent = results.of_type(MessageSent)
    assert [(e.contact_id, e.test_send) for e in sent] == [(test.contact_id, True)]
    assert [e.contact_id for e in results.of_type(MessageDeferred)] == ["c0"]
    landed = await sandbox.ledger_from(numbers.sender, started_ms)
    assert [m["to"] for m in landed] == [numbers.recipient(1)]
