"""retry-failed: a new run to the retryable failures only, each sent once."""

from __future__ import annotations

from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    invalid_phone,
    ledger,
    start,
    valid_phone,
    wait_finished,
)


def test_retry_failed_sends_only_to_retryable_failures_once(make_system, sandbox_admin) -> None:
    # A third of Twilio's answers are 500s, and the sender gives up at the first one.
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000, "error_rate": 0.3})
    system = make_system(send_max_attempts=1, **FAST)
    valid = [valid_phone(i) for i in range(100)]
    invalid = [invalid_phone(i) for i in range(5)]
    with system.client() as client:
        campaign = create_campaign(client, "flaky", valid + invalid)
        start(client, campaign["id"])
        first = wait_finished(client, campaign["id"], timeout_s=120)
        # An invalid number fails for good with 21211, unless a 500 came first: then its
        # failure is retryable too, and the retry run meets the 21211.
        permanent = first["metrics"]["errorsByCode"].get("21211", 0)
        invalid_retried = len(invalid) - permanent
        retryable = first["progress"]["failed"] - permanent
        assert retryable > invalid_retried

        sandbox_admin.post("/_sandbox/faults", json={"error_rate": 0}).raise_for_status()
        response = client.post(f"/api/campaigns/{campaign['id']}/retry-failed")
        assert response.status_code == 200, response.text
        run = response.json()["campaign"]
        assert run["id"] != campaign["id"] and run["totalContacts"] == retryable
        second = wait_finished(client, run["id"], timeout_s=120)
        original = client.get(f"/api/campaigns/{campaign['id']}/queue-status").json()["status"]
        again = client.post(f"/api/campaigns/{campaign['id']}/retry-failed")

    assert (second["progress"]["success"], second["progress"]["failed"]) == (
        retryable - invalid_retried,
        invalid_retried,
    )
    assert original["progress"] == first["progress"]  # the first run's counts stay
    recipients = [message["to"] for message in ledger(sandbox_admin)]
    assert sorted(recipients) == sorted(f"whatsapp:{phone}" for phone in valid)
    # Those failures were retried once: asking again finds nothing to send.
    assert again.status_code == 409, again.text
    assert "no retryable failure" in again.json()["message"]
