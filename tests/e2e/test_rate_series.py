"""The rate series end to end: a campaign with failures at send and after acceptance goes
through every service, and GET /api/campaigns/{id}/rate-series adds up to what
queue-status counts."""

from __future__ import annotations

import httpx

from devstack.system import ADMIN_TOKEN
from tests.e2e.test_campaigns import FAST, create_campaign, start, valid_phone, wait_finished
from tests.e2e.test_receipts import failing_phone, queue_status
from tests.helpers import eventually_sync

# The sandbox's failure patterns (services/twilio_sandbox/faults.py): refused when the
# message is created (failed at send), or accepted and then failed by a receipt.
FAILS_AT_SEND = ("0000", "0003")
FAILS_AFTER_ACCEPTANCE = ("0002", "0005")
VALID = 30


def rate_series(client: httpx.Client, campaign_id: str) -> dict:
    response = client.get(f"/api/campaigns/{campaign_id}/rate-series")
    assert response.status_code == 200, response.text
    return response.json()


def sums(series: dict) -> tuple[int, int, int]:
    points = series["points"]
    return (
        sum(p["sent"] for p in points),
        sum(p["failed"] for p in points),
        sum(p["failedAfterAcceptance"] for p in points),
    )


def test_the_points_add_up_to_the_campaigns_counts(make_system, sandbox_admin) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(public_api=True, **FAST)
    phones = [valid_phone(i) for i in range(VALID)]
    phones += [
        failing_phone(i, s) for s in FAILS_AT_SEND + FAILS_AFTER_ACCEPTANCE for i in range(2)
    ]
    with system.client() as client:
        campaign_id = create_campaign(client, "charted", phones)["id"]
        before = rate_series(client, campaign_id)
        assert before == {"campaignId": campaign_id, "bucketSeconds": 1, "points": []}

        start(client, campaign_id)
        done = wait_finished(client, campaign_id, timeout_s=120)
        progress = done["progress"]
        assert (progress["success"], progress["failed"]) == (VALID + 4, 4)
        series = rate_series(client, campaign_id)
        assert sums(series)[:2] == (progress["success"], progress["failed"])

        # Every bucket from the first to the last, one bucketSeconds apart, oldest first.
        width = series["bucketSeconds"]
        times = [point["at"] for point in series["points"]]
        assert width == 1
        assert times == list(range(times[0], times[-1] + width, width))
        assert set(series["points"][0]) == {"at", "sent", "failed", "failedAfterAcceptance"}

        # Receipts come after the end: their failures join the series as they are folded.
        def receipts_folded() -> dict | None:
            funnel = queue_status(client, campaign_id)["funnel"]
            after_acceptance = funnel["failed"] + funnel["undelivered"]
            if after_acceptance < 4:
                return None
            latest = rate_series(client, campaign_id)
            return latest if sums(latest)[2] == after_acceptance else None

        settled = eventually_sync(receipts_folded, timeout_s=60, what="receipts in the series")
        assert sums(settled) == (VALID + 4, 4, 4)

        # Whoever may see the campaign's queue-status may see this, as on every campaign
        # route: its owner. An admin sees only campaigns without an owner (auth.py), so
        # another marketer, an admin and an unknown id all get a 404.
        for token in ("other-token", ADMIN_TOKEN):
            with system.client(token) as stranger:
                for route in ("queue-status", "rate-series"):
                    answer = stranger.get(f"/api/campaigns/{campaign_id}/{route}")
                    assert answer.status_code == 404, (token, route)
        assert client.get("/api/campaigns/no-such-campaign/rate-series").status_code == 404
        anonymous = httpx.get(f"{system.api_url}/api/campaigns/{campaign_id}/rate-series")
        assert anonymous.status_code == 401
