"""Each recipient's outcome, in PostgreSQL, after a campaign has gone through every
service: the row of each position says what became of it, with Twilio's sid or code."""

from __future__ import annotations

import asyncio

from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    invalid_phone,
    ledger,
    recipient_rows,
    start,
    valid_phone,
    wait_finished,
)


def test_every_recipient_ends_with_its_outcome_in_postgres(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    valid = [valid_phone(i) for i in range(12)]
    phones = [*valid, invalid_phone(1), invalid_phone(2), valid_phone(0)]
    with system.client() as client:
        campaign = create_campaign(client, "outcomes", phones)
        start(client, campaign["id"])
        wait_finished(client, campaign["id"], timeout_s=60)
    rows = asyncio.run(recipient_rows(system.env["DATABASE_URL"], campaign["id"]))

    sid_of = {m["to"].removeprefix("whatsapp:"): m["sid"] for m in ledger(sandbox_admin)}
    assert [row["phone"] for row in rows] == phones
    assert [(row["state"], row["message_sid"]) for row in rows[:12]] == [
        ("sent", sid_of[phone]) for phone in valid
    ]
    assert [(row["state"], row["error_code"]) for row in rows[12:14]] == [("failed", 21211)] * 2
    assert (rows[14]["state"], rows[14]["reason"]) == ("skipped", "duplicate")
    assert all(row["outcome_at"] is not None for row in rows)
