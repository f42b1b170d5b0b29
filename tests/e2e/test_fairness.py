"""The send rate shared by priority weight, measured on the sandbox's ledger."""

from __future__ import annotations

import time

from tests.e2e.test_campaigns import create_campaign, ledger, start, valid_phone, wait_finished
from tests.helpers import eventually_sync

RATE = 100
AT_100_PER_SECOND = {
    "twilio_rate_limit_per_second": RATE,
    "twilio_rate_limit_per_minute": RATE * 60,
    "twilio_rate_limit_per_hour": RATE * 3600,
}


def _accepted_at(sandbox, phones: list[str]) -> list[int]:
    wanted = {f"whatsapp:{phone}" for phone in phones}
    return sorted(m["accepted_at_ms"] for m in ledger(sandbox) if m["to"] in wanted)


def test_a_high_priority_campaign_overtakes_a_running_normal_one(make_system, sandbox_admin):
    sandbox_admin.post("/_sandbox/faults", json={"mps": RATE}).raise_for_status()
    system = make_system(sender_replicas=2, **AT_100_PER_SECOND)
    big = [valid_phone(i) for i in range(20_000)]
    urgent = [valid_phone(i) for i in range(20_000, 20_100)]
    with system.client() as client:
        normal_campaign = create_campaign(client, "newsletter", big)
        urgent_campaign = create_campaign(client, "urgent", urgent, priority="high")
        start(client, normal_campaign["id"])
        eventually_sync(
            lambda: len(ledger(sandbox_admin)) >= 300, timeout_s=60, what="the newsletter sending"
        )
        answer = start(client, urgent_campaign["id"])
        started_ms = time.time() * 1000
        # 100 contacts at 4/6 of 100 per second beside the newsletter: 1.5 s.
        assert answer["estimatedTime"] == 1_500
        wait_finished(client, urgent_campaign["id"], timeout_s=60)
        assert client.get(f"/api/campaigns/{normal_campaign['id']}").json()["status"] == "sending"

    times = _accepted_at(sandbox_admin, urgent)
    took_ms = times[-1] - started_ms
    print(f"the urgent campaign's 100 messages were all accepted {took_ms:.0f} ms after its start")
    assert len(times) == 100
    assert took_ms <= 5_000


def test_two_normal_campaigns_started_together_share_the_rate_evenly(make_system, sandbox_admin):
    sandbox_admin.post("/_sandbox/faults", json={"mps": RATE}).raise_for_status()
    system = make_system(sender_replicas=2, **AT_100_PER_SECOND)
    first = [valid_phone(i) for i in range(1_000)]
    second = [valid_phone(i) for i in range(1_000, 2_000)]
    with system.client() as client:
        campaigns = [
            create_campaign(client, "first", first),
            create_campaign(client, "second", second),
        ]
        for campaign in campaigns:
            start(client, campaign["id"])
        for campaign in campaigns:
            wait_finished(client, campaign["id"], timeout_s=120)

    first_times, second_times = (
        _accepted_at(sandbox_admin, first),
        _accepted_at(sandbox_admin, second),
    )
    # While both were sending: from the later first message to the earlier last one.
    begin = max(first_times[0], second_times[0])
    end = min(first_times[-1], second_times[-1])
    in_first = sum(begin <= t <= end for t in first_times)
    in_second = sum(begin <= t <= end for t in second_times)
    share = in_first / (in_first + in_second)
    print(f"over {end - begin} ms: {in_first} and {in_second} messages, share {share:.3f}")
    assert end - begin >= 5_000, "the campaigns hardly overlapped"
    assert 0.4 <= share <= 0.6
