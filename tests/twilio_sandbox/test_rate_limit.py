"""MPS per sender: 429/20429 with Retry-After above the limit, exact sliding windows."""

from __future__ import annotations

import asyncio
import time

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from shared.twilio_client import make_twilio_client

SENDER_A = "whatsapp:+15550300001"
SENDER_B = "whatsapp:+15550300002"
RECIPIENT = "whatsapp:+15550307777"


def set_mps(admin, mps: int) -> None:
    admin.post("/_sandbox/faults", json={"mps": mps}).raise_for_status()


def test_above_mps_is_429_with_retry_after_and_other_sender_unaffected(
    twilio_client: Client, clean_sandbox
) -> None:
    set_mps(clean_sandbox, 3)
    started = time.monotonic()
    for i in range(3):
        twilio_client.messages.create(to=RECIPIENT, from_=SENDER_A, body=f"ok-{i}")

    with pytest.raises(TwilioRestException) as raised:
        twilio_client.messages.create(to=RECIPIENT, from_=SENDER_A, body="too many")
    elapsed_s = time.monotonic() - started
    retry_after = twilio_client.http_client._test_only_last_response.headers["Retry-After"]
    other_sender = twilio_client.messages.create(to=RECIPIENT, from_=SENDER_B, body="other")

    assert elapsed_s < 1.0, "machine too slow for this test: the window already moved on"
    assert raised.value.status == 429
    assert raised.value.code == 20429
    assert int(retry_after) >= 1
    assert other_sender.status == "queued"
    ledger = clean_sandbox.get("/_sandbox/ledger").json()
    assert [m["from"] for m in ledger["messages"]] == [SENDER_A] * 3 + [SENDER_B]


def test_rejected_requests_do_not_extend_the_window(twilio_client: Client, clean_sandbox) -> None:
    set_mps(clean_sandbox, 2)
    for i in range(2):
        twilio_client.messages.create(to=RECIPIENT, from_=SENDER_A, body=f"ok-{i}")
    first_accepted_ms = clean_sandbox.get("/_sandbox/ledger").json()["messages"][0][
        "accepted_at_ms"
    ]
    rejected = 0
    deadline = time.monotonic() + 5.0
    while True:
        # Hammering on purpose: if 429s counted, the window would never free up.
        try:
            twilio_client.messages.create(to=RECIPIENT, from_=SENDER_A, body="retry")
            break
        except TwilioRestException as exc:
            assert exc.status == 429
            rejected += 1
        assert time.monotonic() < deadline, "sender stayed throttled"

    ledger = clean_sandbox.get("/_sandbox/ledger").json()["messages"]
    assert rejected > 0
    assert len(ledger) == 3
    gap_ms = ledger[2]["accepted_at_ms"] - first_accepted_ms
    assert 1000 <= gap_ms < 1500


@pytest.mark.asyncio
async def test_concurrent_burst_never_exceeds_mps_in_any_window(sandbox, clean_sandbox) -> None:
    mps = 5
    set_mps(clean_sandbox, mps)
    client = make_twilio_client(
        sandbox.account_sid, sandbox.auth_token, sandbox.url, use_async=True
    )
    outcomes: list[int] = []

    async def attempt(i: int) -> None:
        try:
            await client.messages.create_async(to=RECIPIENT, from_=SENDER_A, body=f"burst-{i}")
            outcomes.append(201)
        except TwilioRestException as exc:
            outcomes.append(exc.status)

    try:
        # Waves of concurrent requests for ~2.5 s, far above the limit.
        for wave in range(25):
            await asyncio.gather(*(attempt(wave * 10 + i) for i in range(10)))
            await asyncio.sleep(0.1)
    finally:
        await client.http_client.close()

    accepted_ms = sorted(
        m["accepted_at_ms"] for m in clean_sandbox.get("/_sandbox/ledger").json()["messages"]
    )
    assert set(outcomes) == {201, 429}
    assert outcomes.count(201) == len(accepted_ms)
    assert len(accepted_ms) >= 2 * mps
    for earlier, later in zip(accepted_ms, accepted_ms[mps:], strict=False):
        assert later - earlier >= 1000, f"{mps + 1} messages within {later - earlier} ms"
