"""Create and fetch through the official twilio client, sync and async."""

from __future__ import annotations

import json
import re

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from shared.twilio_client import make_twilio_client

SENDER = "whatsapp:+15550100001"
RECIPIENT = "whatsapp:+15550107777"
SID_PATTERN = re.compile(r"^SM[0-9a-f]{32}$")
RFC2822_PATTERN = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$"
)

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def last_json(client: Client) -> dict:
    return json.loads(client.http_client._test_only_last_response.text)


def test_create_returns_twilio_message_resource(twilio_client: Client, sandbox) -> None:
    message = twilio_client.messages.create(to=RECIPIENT, from_=SENDER, body="hello")

    assert SID_PATTERN.match(message.sid)
    assert message.status == "queued"
    assert message.account_sid == sandbox.account_sid
    assert message.to == RECIPIENT
    assert message.from_ == SENDER
    assert message.body == "hello"
    assert message.direction == "outbound-api"
    assert message.error_code is None
    assert message.uri == f"/2010-04-01/Accounts/{sandbox.account_sid}/Messages/{message.sid}.json"
    raw = last_json(twilio_client)
    assert twilio_client.http_client._test_only_last_response.status_code == 201
    for date_field in ("date_created", "date_updated", "date_sent"):
        assert RFC2822_PATTERN.match(raw[date_field]), raw[date_field]
    assert raw["api_version"] == "2010-04-01"
    assert raw["num_segments"] == "1"
    assert raw["num_media"] == "0"
    assert raw["price"] is None
    assert raw["price_unit"] == "USD"
    assert raw["error_message"] is None
    assert raw["subresource_uris"]["media"].endswith(f"/Messages/{message.sid}/Media.json")


def test_create_with_content_template_and_messaging_service(twilio_client: Client, clean_sandbox):
    message = twilio_client.messages.create(
        to=RECIPIENT,
        messaging_service_sid="MG" + "1" * 32,
        content_sid="HX" + "2" * 32,
        content_variables='{"1": "Ada"}',
    )

    assert message.messaging_service_sid == "MG" + "1" * 32
    entry = clean_sandbox.get("/_sandbox/ledger").json()["messages"][0]
    assert entry["sid"] == message.sid
    assert entry["content_sid"] == "HX" + "2" * 32
    assert entry["content_variables"] == '{"1": "Ada"}'


@pytest.mark.asyncio
async def test_create_and_fetch_with_async_client(sandbox) -> None:
    client = make_twilio_client(
        sandbox.account_sid, sandbox.auth_token, sandbox.url, use_async=True
    )
    try:
        created = await client.messages.create_async(to=RECIPIENT, from_=SENDER, body="async")
        fetched = await client.messages(created.sid).fetch_async()
    finally:
        await client.http_client.close()

    assert SID_PATTERN.match(created.sid)
    assert fetched.sid == created.sid
    assert fetched.body == "async"


def test_fetched_status_progresses_to_read(twilio_client: Client, wait_until) -> None:
    message = twilio_client.messages.create(to=RECIPIENT, from_=SENDER, body="progress")
    seen: list[str] = []
    path = ("queued", "sent", "delivered", "read")  # a WhatsApp recipient reads it at last

    def read() -> bool:
        status = twilio_client.messages(message.sid).fetch().status
        if not seen or seen[-1] != status:
            seen.append(status)
        return status == "read"

    wait_until(read, timeout_s=5.0, message="status read")
    assert seen[0] in path
    assert seen == [s for s in path if s in seen]
    assert twilio_client.messages(message.sid).fetch().error_code is None


def test_fetch_unknown_sid_is_404(twilio_client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        twilio_client.messages("SM" + "0" * 32).fetch()

    assert raised.value.status == 404
    assert raised.value.code == 20404


def test_wrong_auth_token_is_401_20003(sandbox, clean_sandbox) -> None:
    client = make_twilio_client(sandbox.account_sid, "not-the-token", sandbox.url, use_async=False)

    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=RECIPIENT, from_=SENDER, body="nope")

    assert raised.value.status == 401
    assert raised.value.code == 20003
    assert clean_sandbox.get("/_sandbox/ledger").json()["count"] == 0


def test_other_account_in_path_is_401(sandbox) -> None:
    client = make_twilio_client("AC" + "0" * 32, sandbox.auth_token, sandbox.url, use_async=False)

    with pytest.raises(TwilioRestException) as raised:
        client.messages("SM" + "0" * 32).fetch()

    assert raised.value.status == 401
    assert raised.value.code == 20003


@pytest.mark.parametrize(
    ("arguments", "expected_code"),
    [
        ({"to": "", "from_": SENDER, "body": "x"}, 21604),
        ({"to": RECIPIENT, "from_": SENDER}, 21602),
        ({"to": RECIPIENT, "body": "x"}, 21603),
    ],
    ids=["missing-to", "missing-body", "missing-from"],
)
def test_invalid_create_is_400_with_twilio_code(
    twilio_client: Client, clean_sandbox, arguments: dict, expected_code: int
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        twilio_client.messages.create(**arguments)

    assert raised.value.status == 400
    assert raised.value.code == expected_code
    assert clean_sandbox.get("/_sandbox/ledger").json()["count"] == 0
