"""Opt-outs end to end: a STOP reply or Twilio's 21610 puts a number on the suppression
list, and the next campaign skips it as opted_out instead of sending. START lifts only
the recipient's own STOP."""

from __future__ import annotations

import httpx
from twilio.request_validator import RequestValidator

from shared.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN
from shared.status_callback import INBOUND_PATH
from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    ledger,
    start,
    valid_phone,
    wait_finished,
)

# The sandbox refuses numbers ending 0001 at creation with 21610 (unsubscribed recipient).
UNSUBSCRIBED = "+34630010001"


def reply(client: httpx.Client, api_url: str, phone: str, body: str) -> httpx.Response:
    """An inbound WhatsApp message from ``phone``, signed as Twilio signs it."""
    url = f"{api_url}{INBOUND_PATH}"
    params = {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(SANDBOX_AUTH_TOKEN).compute_signature(url, params)
    return client.post(url, data=params, headers={"X-Twilio-Signature": signature})


def suppressed(client: httpx.Client, *phones: str) -> dict[str, str]:
    """Those of the numbers on the list, with their reason (a marketer looks up one
    number at a time; listing the whole list is for admins)."""
    found = {}
    for phone in phones:
        answer = client.get(f"/api/suppressions/{phone}")
        if answer.status_code != 404:
            answer.raise_for_status()
            found[phone] = answer.json()["reason"]
    return found


def test_a_stop_reply_skips_the_number_in_the_next_campaign(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    stopped = valid_phone(0)
    others = [valid_phone(i) for i in range(1, 6)]
    with system.client() as client:
        answer = reply(client, system.api_url, stopped, "Stop")
        assert answer.status_code == 200
        assert answer.text.endswith("<Response/>")
        assert suppressed(client, stopped, *others) == {stopped: "inbound_stop"}

        campaign = create_campaign(client, "after stop", [stopped, *others])
        start(client, campaign["id"])
        status = wait_finished(client, campaign["id"], timeout_s=60)

    recipients = [message["to"] for message in ledger(sandbox_admin)]
    assert f"whatsapp:{stopped}" not in recipients
    assert sorted(recipients) == sorted(f"whatsapp:{phone}" for phone in others)
    assert status["metrics"]["skippedByReason"].get("opted_out") == 1
    assert status["progress"]["success"] == 5


def test_error_21610_suppresses_the_number(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    with system.client() as client:
        assert suppressed(client, UNSUBSCRIBED, valid_phone(1)) == {}
        first = create_campaign(client, "unsubscribed", [UNSUBSCRIBED, valid_phone(1)])
        start(client, first["id"])
        status = wait_finished(client, first["id"], timeout_s=60)
        assert status["metrics"]["errorsByCode"] == {"21610": 1}
        both = (UNSUBSCRIBED, valid_phone(1))
        assert suppressed(client, *both) == {UNSUBSCRIBED: "error_21610"}

        # START lifts only the recipient's own STOP: Twilio's refusal stays.
        assert reply(client, system.api_url, UNSUBSCRIBED, "START").status_code == 200
        assert suppressed(client, *both) == {UNSUBSCRIBED: "error_21610"}
