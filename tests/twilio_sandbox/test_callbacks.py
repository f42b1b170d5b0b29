"""Signed status callbacks, checked with the official RequestValidator."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from shared.twilio_client import make_twilio_client

SENDER = "whatsapp:+15550600001"
RECIPIENT = "whatsapp:+15550607777"
FAILING_RECIPIENT = "whatsapp:+15550600002"

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("clean_sandbox")]


async def create(sandbox, **arguments):
    client = make_twilio_client(
        sandbox.account_sid, sandbox.auth_token, sandbox.url, use_async=True
    )
    try:
        return await client.messages.create_async(**arguments)
    finally:
        await client.http_client.close()


async def test_callbacks_are_signed_and_follow_the_status_path(
    sandbox, callback_receiver, async_wait_until
) -> None:
    callback_url = callback_receiver.url("/twilio/status?campaign=c-1")
    message = await create(
        sandbox, to=RECIPIENT, from_=SENDER, body="hi", status_callback=callback_url
    )

    await async_wait_until(
        lambda: callback_receiver.statuses_for(message.sid)[-1:] == ["read"],
        timeout_s=5.0,
        message="read callback",
    )

    callbacks = callback_receiver.for_sid(message.sid)
    # WhatsApp reports the read receipt after delivery.
    assert [c.params["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered", "read"]
    validator = RequestValidator(sandbox.auth_token)
    for callback in callbacks:
        assert callback.path_qs == "/twilio/status?campaign=c-1"
        assert validator.validate(callback_url, callback.params, callback.signature)
        assert callback.params["SmsSid"] == message.sid
        assert callback.params["SmsStatus"] == callback.params["MessageStatus"]
        assert callback.params["AccountSid"] == sandbox.account_sid
        assert callback.params["From"] == SENDER
        assert callback.params["To"] == RECIPIENT
        assert callback.params["ApiVersion"] == "2010-04-01"
        assert callback.params["ChannelPrefix"] == "whatsapp"
        assert "ErrorCode" not in callback.params


async def test_tampered_callback_fails_validation(
    sandbox, callback_receiver, async_wait_until
) -> None:
    callback_url = callback_receiver.url()
    message = await create(
        sandbox, to=RECIPIENT, from_=SENDER, body="hi", status_callback=callback_url
    )
    await async_wait_until(
        lambda: callback_receiver.for_sid(message.sid), timeout_s=5.0, message="a callback"
    )
    callback = callback_receiver.for_sid(message.sid)[0]
    validator = RequestValidator(sandbox.auth_token)

    tampered_params = {**callback.params, "MessageStatus": "delivered", "SmsStatus": "delivered"}

    assert validator.validate(callback_url, callback.params, callback.signature)
    assert not validator.validate(callback_url, tampered_params, callback.signature)
    assert not validator.validate(callback_url + "?x=1", callback.params, callback.signature)
    assert not RequestValidator("other-token").validate(
        callback_url, callback.params, callback.signature
    )


async def test_failed_message_callback_carries_error_code(
    sandbox, callback_receiver, async_wait_until
) -> None:
    callback_url = callback_receiver.url()
    message = await create(
        sandbox, to=FAILING_RECIPIENT, from_=SENDER, body="hi", status_callback=callback_url
    )

    await async_wait_until(
        lambda: callback_receiver.statuses_for(message.sid)[-1:] == ["failed"],
        timeout_s=5.0,
        message="failed callback",
    )

    callbacks = callback_receiver.for_sid(message.sid)
    assert [c.params["MessageStatus"] for c in callbacks] == ["queued", "failed"]
    failed = callbacks[-1]
    assert failed.params["ErrorCode"] == "63016"
    assert failed.params["ErrorMessage"]
    assert "ErrorCode" not in callbacks[0].params
    assert RequestValidator(sandbox.auth_token).validate(
        callback_url, failed.params, failed.signature
    )


async def test_sms_callbacks_stop_at_delivered(
    sandbox, callback_receiver, async_wait_until
) -> None:
    callback_url = callback_receiver.url()
    message = await create(
        sandbox, to="+15550607778", from_="+15550600009", body="hi", status_callback=callback_url
    )

    await async_wait_until(
        lambda: callback_receiver.statuses_for(message.sid)[-1:] == ["delivered"],
        timeout_s=5.0,
        message="delivered callback",
    )

    statuses = [c.params["MessageStatus"] for c in callback_receiver.for_sid(message.sid)]
    assert statuses == ["queued", "sent", "delivered"]
    assert "ChannelPrefix" not in callback_receiver.for_sid(message.sid)[-1].params
