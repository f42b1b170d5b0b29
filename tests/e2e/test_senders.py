"""Several senders: a Messaging Service pool, each number within its own MPS, one
number per recipient; templates with per-contact variables, as Twilio receives them."""

from __future__ import annotations

import json
from collections import defaultdict

from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    ledger,
    start,
    valid_phone,
    wait_finished,
)

POOL_SID = "MG" + "c" * 32
SLOW, QUICK = "+14155550201", "+14155550202"
TEMPLATE_SID = "HX" + "d" * 32


def most_in_any_second(times_ms: list[int]) -> int:
    times_ms = sorted(times_ms)
    most, first = 0, 0
    for last, at_ms in enumerate(times_ms):
        while at_ms - times_ms[first] >= 1_000:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_a_pool_keeps_each_number_within_its_own_mps(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(
        sender_replicas=2,
        whatsapp_senders=[{"number": SLOW, "mps": 3}, {"number": QUICK, "mps": 6}],
        messaging_services={POOL_SID: [SLOW, QUICK]},
        # The limiter's windows are widened to cover the spread of the delay between a
        # grant and Twilio's acceptance (services/sender/limiter.py); two replicas on
        # this 2-core machine, beside other suites, spread it wider than the default.
        limiter_margin_ms=100,
    )
    phones = [valid_phone(i) for i in range(60)]
    with system.client() as client:
        first = create_campaign(client, "pool", phones, messagingServiceSid=POOL_SID)
        assert first["messagingServiceSid"] == POOL_SID
        start(client, first["id"])
        wait_finished(client, first["id"], timeout_s=120)
        sent = ledger(sandbox_admin)
        # The same audience again: every recipient hears from the same number.
        again = create_campaign(client, "pool again", phones[:20], messagingServiceSid=POOL_SID)
        start(client, again["id"])
        wait_finished(client, again["id"], timeout_s=120)
    everything = ledger(sandbox_admin)

    times_by_sender: dict[str, list[int]] = defaultdict(list)
    for message in sent:
        times_by_sender[message["from"]].append(message["accepted_at_ms"])
    assert sorted(times_by_sender) == [f"whatsapp:{SLOW}", f"whatsapp:{QUICK}"]
    assert sum(len(times) for times in times_by_sender.values()) == 60
    assert most_in_any_second(times_by_sender[f"whatsapp:{SLOW}"]) <= 3
    assert most_in_any_second(times_by_sender[f"whatsapp:{QUICK}"]) <= 6
    senders_by_recipient: dict[str, set[str]] = defaultdict(set)
    for message in everything:
        senders_by_recipient[message["to"]].add(message["from"])
    assert len(everything) == 80
    assert all(len(senders) == 1 for senders in senders_by_recipient.values())


def test_a_template_campaign_sends_content_sid_and_each_contacts_variables(
    make_system, sandbox_admin
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(**FAST)
    phones = [valid_phone(i) for i in range(3)]
    body = {
        "name": "template",
        "message": {
            "contentSid": TEMPLATE_SID,
            "contentVariables": {"1": "{{name}}", "city": "{{city}}"},
        },
        "contacts": [
            {"phone": phone, "name": f"Ana {i}", "vars": {"city": f"City {i}"}}
            for i, phone in enumerate(phones)
        ],
    }
    with system.client() as client:
        created = client.post("/api/campaigns", json=body)
        assert created.status_code == 201, created.text
        start(client, created.json()["id"])
        wait_finished(client, created.json()["id"], timeout_s=60)
    entries = {entry["to"]: entry for entry in ledger(sandbox_admin)}
    for i, phone in enumerate(phones):
        entry = entries[f"whatsapp:{phone}"]
        assert entry["content_sid"] == TEMPLATE_SID
        assert entry["body"] in (None, "")
        assert json.loads(entry["content_variables"]) == {"1": f"Ana {i}", "city": f"City {i}"}
