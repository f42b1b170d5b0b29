"""Failure injection at run time through /_sandbox/faults."""

from __future__ import annotations

import time

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

SENDER = "whatsapp:+15550400001"
RECIPIENT = "whatsapp:+15550407777"


def send(client: Client, body: str = "x"):
    return client.messages.create(to=RECIPIENT, from_=SENDER, body=body)


def ledger_count(admin) -> int:
    return admin.get("/_sandbox/ledger").json()["count"]


def test_defaults_are_reported_and_restored(clean_sandbox) -> None:
    defaults = clean_sandbox.get("/_sandbox/faults").json()
    changed = clean_sandbox.post("/_sandbox/faults", json={"mps": 3, "error_rate": 0.5}).json()
    restored = clean_sandbox.delete("/_sandbox/faults").json()

    assert defaults["mps"] == 10
    assert defaults["error_rate"] == 0
    suffixes = {
        rule["suffix"]: (rule["code"], rule["mode"]) for rule in defaults["permanent_errors"]
    }
    assert suffixes == {
        "0000": (21211, "sync"),
        "0001": (21610, "sync"),
        "0003": (21614, "sync"),
        "0002": (63016, "async"),
        "0004": (63024, "async"),
        "0005": (30007, "async"),
    }
    assert (changed["mps"], changed["error_rate"]) == (3, 0.5)
    assert restored == defaults


def test_invalid_fault_update_is_rejected(clean_sandbox) -> None:
    assert clean_sandbox.post("/_sandbox/faults", json={"error_rate": 2}).status_code == 400
    assert clean_sandbox.post("/_sandbox/faults", json={"no_such_fault": 1}).status_code == 400
    assert clean_sandbox.get("/_sandbox/faults").json()["error_rate"] == 0


def test_error_rate_one_answers_500_and_records_nothing(
    twilio_client: Client, clean_sandbox
) -> None:
    clean_sandbox.post("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()

    with pytest.raises(TwilioRestException) as raised:
        send(twilio_client)
    assert raised.value.status == 500
    assert raised.value.code == 20500
    assert ledger_count(clean_sandbox) == 0

    clean_sandbox.delete("/_sandbox/faults").raise_for_status()
    assert send(twilio_client).status == "queued"
    assert ledger_count(clean_sandbox) == 1


def test_outage_answers_503_until_it_ends(twilio_client: Client, clean_sandbox, wait_until) -> None:
    clean_sandbox.post("/_sandbox/faults", json={"outage_s": 0.5}).raise_for_status()
    started = time.monotonic()

    with pytest.raises(TwilioRestException) as raised:
        send(twilio_client)
    assert raised.value.status == 503
    assert int(twilio_client.http_client._test_only_last_response.headers["Retry-After"]) >= 1
    # Reads fail too, as in a real outage: a sender cannot look its messages up either.
    with pytest.raises(TwilioException, match="HTTP 503"):
        twilio_client.messages.list(limit=1)

    def accepted() -> bool:
        try:
            send(twilio_client, "after outage")
        except TwilioRestException as exc:
            assert exc.status == 503
            return False
        return True

    wait_until(accepted, timeout_s=5.0, message="outage to end")
    assert time.monotonic() - started >= 0.4
    assert ledger_count(clean_sandbox) == 1


def test_outage_can_be_ended_explicitly(twilio_client: Client, clean_sandbox) -> None:
    clean_sandbox.post("/_sandbox/faults", json={"outage_s": 600}).raise_for_status()
    with pytest.raises(TwilioRestException):
        send(twilio_client)

    clean_sandbox.post("/_sandbox/faults", json={"outage_until_ms": None}).raise_for_status()

    assert send(twilio_client).status == "queued"


def test_forced_429_has_retry_after(twilio_client: Client, clean_sandbox) -> None:
    clean_sandbox.post("/_sandbox/faults", json={"force_429_rate": 1.0}).raise_for_status()

    with pytest.raises(TwilioRestException) as raised:
        send(twilio_client)

    assert raised.value.status == 429
    assert raised.value.code == 20429
    assert int(twilio_client.http_client._test_only_last_response.headers["Retry-After"]) >= 1
    assert ledger_count(clean_sandbox) == 0


def test_latency_delays_the_answer(twilio_client: Client, clean_sandbox) -> None:
    clean_sandbox.post("/_sandbox/faults", json={"latency_ms": 300}).raise_for_status()
    started = time.monotonic()

    send(twilio_client)

    assert time.monotonic() - started >= 0.3


def test_permanent_error_table_can_be_replaced(twilio_client: Client, clean_sandbox) -> None:
    rules = [{"suffix": "7777", "code": 21211, "mode": "sync"}]
    clean_sandbox.post("/_sandbox/faults", json={"permanent_errors": rules}).raise_for_status()

    with pytest.raises(TwilioRestException) as raised:
        send(twilio_client)
    ok = twilio_client.messages.create(to="whatsapp:+15550400000", from_=SENDER, body="x")

    assert raised.value.code == 21211
    assert ok.status == "queued"
