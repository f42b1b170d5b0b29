"""Permanent recipient errors: synchronous (400 at creation) and asynchronous (failed later)."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

SENDER = "whatsapp:+15550500001"

pytestmark = pytest.mark.usefixtures("clean_sandbox")


@pytest.mark.parametrize(
    ("recipient", "expected_code"),
    [
        ("whatsapp:+15550510000", 21211),
        ("whatsapp:+15550510001", 21610),
        ("+15550510003", 21614),
    ],
)
def test_synchronous_permanent_error_is_400_and_not_recorded(
    twilio_client: Client, clean_sandbox, recipient: str, expected_code: int
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        twilio_client.messages.create(to=recipient, from_=SENDER, body="x")

    assert raised.value.status == 400
    assert raised.value.code == expected_code
    assert clean_sandbox.get("/_sandbox/ledger").json()["count"] == 0


@pytest.mark.parametrize(
    ("recipient", "expected_status", "expected_code"),
    [
        ("whatsapp:+15550510002", "failed", 63016),
        ("whatsapp:+15550510004", "failed", 63024),
        ("whatsapp:+15550510005", "undelivered", 30007),
    ],
)
def test_asynchronous_permanent_error_is_accepted_then_fails(
    twilio_client: Client,
    clean_sandbox,
    wait_until,
    recipient: str,
    expected_status: str,
    expected_code: int,
) -> None:
    created = twilio_client.messages.create(to=recipient, from_=SENDER, body="x")
    assert created.status == "queued"
    assert created.error_code is None
    assert clean_sandbox.get("/_sandbox/ledger").json()["messages"][0]["sid"] == created.sid

    def final():
        fetched = twilio_client.messages(created.sid).fetch()
        return fetched if fetched.status == expected_status else None

    fetched = wait_until(final, timeout_s=5.0, message=f"status {expected_status}")
    assert fetched.error_code == expected_code
    assert fetched.error_message
    ledger_entry = clean_sandbox.get("/_sandbox/ledger").json()["messages"][0]
    assert ledger_entry["status"] == expected_status
