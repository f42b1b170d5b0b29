"""The /_sandbox/ledger view: acceptance order, filters, clearing."""

from __future__ import annotations

import time

from twilio.rest import Client

SENDER = "whatsapp:+15550700001"
RECIPIENT_A = "whatsapp:+15550701111"
RECIPIENT_B = "whatsapp:+15550702222"


def test_ledger_lists_in_acceptance_order_with_filters(
    twilio_client: Client, clean_sandbox, wait_until
) -> None:
    clean_sandbox.post("/_sandbox/faults", json={"mps": 1000}).raise_for_status()
    first = twilio_client.messages.create(to=RECIPIENT_A, from_=SENDER, body="one")
    first_ms = clean_sandbox.get("/_sandbox/ledger").json()["messages"][0]["accepted_at_ms"]
    # Let the clock move on, so since_ms can separate `first` from the later messages.
    wait_until(
        lambda: time.time() * 1000 > first_ms + 5, timeout_s=2.0, message="the clock to move"
    )
    second = twilio_client.messages.create(to=RECIPIENT_B, from_=SENDER, body="two")
    third = twilio_client.messages.create(to=RECIPIENT_A, from_=SENDER, body="three")

    everything = clean_sandbox.get("/_sandbox/ledger").json()
    to_a = clean_sandbox.get("/_sandbox/ledger", params={"to": RECIPIENT_A}).json()
    since = clean_sandbox.get("/_sandbox/ledger", params={"since_ms": first_ms + 1}).json()
    since_to_a = clean_sandbox.get(
        "/_sandbox/ledger", params={"since_ms": first_ms + 1, "to": RECIPIENT_A}
    ).json()

    assert everything["count"] == 3
    assert [m["sid"] for m in everything["messages"]] == [first.sid, second.sid, third.sid]
    entry = everything["messages"][0]
    assert set(entry) == {
        "sid",
        "from",
        "to",
        "body",
        "content_sid",
        "content_variables",
        "status",
        "accepted_at_ms",
    }
    assert (entry["from"], entry["to"], entry["body"]) == (SENDER, RECIPIENT_A, "one")
    assert [m["sid"] for m in to_a["messages"]] == [first.sid, third.sid]
    assert to_a["count"] == 2
    assert [m["sid"] for m in since["messages"]] == [second.sid, third.sid]
    assert [m["sid"] for m in since_to_a["messages"]] == [third.sid]
    second_ms = everything["messages"][1]["accepted_at_ms"]
    inclusive = clean_sandbox.get("/_sandbox/ledger", params={"since_ms": second_ms}).json()
    assert inclusive["messages"][0]["sid"] == second.sid
    accepted = [m["accepted_at_ms"] for m in everything["messages"]]
    assert accepted == sorted(accepted)


def test_clear_empties_the_ledger(twilio_client: Client, clean_sandbox) -> None:
    twilio_client.messages.create(to=RECIPIENT_A, from_=SENDER, body="one")

    cleared = clean_sandbox.delete("/_sandbox/ledger").json()

    assert cleared == {"cleared": 1}
    assert clean_sandbox.get("/_sandbox/ledger").json() == {"messages": [], "count": 0}


def test_invalid_since_ms_is_400(clean_sandbox) -> None:
    assert clean_sandbox.get("/_sandbox/ledger", params={"since_ms": "soon"}).status_code == 400


def test_health(clean_sandbox) -> None:
    assert clean_sandbox.get("/_sandbox/health").json() == {"status": "ok"}
