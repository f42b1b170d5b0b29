"""One account of a campaign on every surface: queue-status, the dashboard endpoint, the
web page and `campaignctl status` show the same counts (shared/account.py), read off each
of them; a stopped campaign reads "sent · cancelled" and never claims 100% processed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from playwright.sync_api import Page, expect

from devstack.system import TOKEN
from tests.browser.conftest import Screenshot
from tests.browser.test_dashboard import sign_in
from tests.cli.test_campaignctl_on_the_stack import CAMPAIGNCTL, summary_value
from tests.e2e.test_campaigns import FAST, create_campaign, valid_phone
from tests.helpers import eventually_sync

# The sandbox accepts numbers ending so, then fails them by receipt; 0000 it refuses.
FAILING_AFTER_ACCEPTANCE = ("0002", "0004", "0005")
REFUSED = "0000"
RECIPIENTS = 50
# The page's facts, each with the account field it shows.
FACTS = {
    "Sent": "succeeded",
    "Delivered": "delivered",
    "Failed": "failed",
    "Skipped": "skipped",
    "Cancelled": "cancelled",
    "Expired": "expired",
    "Waiting": "waiting",
}


def phones() -> list[str]:
    suffixes = (*FAILING_AFTER_ACCEPTANCE, REFUSED)
    failing = [f"+3463{i:03d}{suffix}" for i, suffix in enumerate(suffixes)]
    return [valid_phone(i) for i in range(RECIPIENTS - len(failing))] + failing


def account(client, campaign_id: str) -> dict:
    body = client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]
    return body["account"] | {"status": body["status"]}


def page_fact(page: Page, term: str) -> str:
    return page.locator(f"#outcomes dt:text-is('{term}') + dd").inner_text()


def number(text: str) -> int:
    return int(text.replace(",", "").replace("\u202f", "").replace(".", ""))


def shown_on_page(page: Page) -> dict:
    shown = {field: number(page_fact(page, term)) for term, field in FACTS.items()}
    shown["processed"] = int(page.locator("#progress-count").get_attribute("data-processed"))
    shown["summary"] = page.locator("#summary").inner_text()
    return shown


def campaignctl_status(env: dict[str, str], campaign_id: str) -> str:
    result = subprocess.run(
        [str(CAMPAIGNCTL), "campaigns", "status", campaign_id],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_fifty_recipients_with_failures_at_both_stages_read_the_same_everywhere(
    make_system, sandbox_admin, page: Page, screenshot: Screenshot, tmp_path: Path
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(public_api=True, **FAST)
    with system.client() as client:
        campaign_id = create_campaign(client, "Fifty", phones())["id"]
    page.goto(f"{system.api_url}/#/campaigns/{campaign_id}")
    sign_in(page, TOKEN)
    expect(page.locator("#live-state")).to_contain_text("Not started")
    expect(page.locator("#summary")).to_have_text(f"{RECIPIENTS} waiting")
    expect(page.locator("#success-rate")).to_have_text("—")

    page.get_by_role("button", name="Start").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"It sends to {RECIPIENTS} recipients")
    dialog.get_by_role("button", name=f"Send to {RECIPIENTS} recipients").click()
    expect(page.locator("#campaign-status")).to_contain_text("Completed")

    with system.client() as client:
        # At rest: the campaign over, the three failures after acceptance reported, and
        # every delivered message read (the sandbox's WhatsApp messages end read).
        def at_rest() -> dict | None:
            now = account(client, campaign_id)
            late = now["failedAfterAcceptance"] + now["undelivered"]
            receipts_in = now["sent"] == 0 and now["read"] == now["delivered"]
            return now if now["status"] == "completed" and late == 3 and receipts_in else None

        settled = eventually_sync(at_rest, timeout_s=90, what="every receipt folded")
        assert (settled["failedAtSend"], settled["failed"], settled["processed"]) == (1, 4, 50)
        assert settled["summary"] == "46 sent · 4 failed"
        assert settled["successRate"] == 92.0

        # The page follows receipts after the end without a reload.
        expected = {field: settled[field] for field in FACTS.values()}
        expected |= {"processed": settled["processed"], "summary": settled["summary"]}
        eventually_sync(
            lambda: shown_on_page(page) == expected, timeout_s=30, what="the page at rest"
        )
        expect(page.locator("#success-rate")).to_have_text("92%")
        # The chart of the run adds up to the same: 46 sent and 1 refused at send, then
        # 3 failed after acceptance.
        caption = page.locator("#rate-chart figcaption")
        expect(caption).to_contain_text("sent: 49 in all")
        expect(caption).to_contain_text("failed at send: 1 in all")
        expect(caption).to_contain_text("failed after acceptance: 3 in all")
        rows = page.locator("#errors tr")
        expect(rows).to_have_count(4)
        stages = {
            row.get_attribute("data-code"): row.get_attribute("data-stage") for row in rows.all()
        }
        assert stages == {
            "21211": "at_send",
            "63016": "after_acceptance",
            "63024": "after_acceptance",
            "30007": "undelivered",
        }

        # The dashboard endpoint: the same account (this user's only campaign).
        dashboard = client.get("/api/dashboard/campaign-queue-metrics").json()["metrics"]
        assert dashboard["account"] == {k: v for k, v in settled.items() if k != "status"}

    # campaignctl prints the api's account as it is.
    env = {"CAMPAIGNCTL_API_URL": system.api_url, "CAMPAIGNCTL_TOKEN": TOKEN, "COLUMNS": "160",
           "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}  # fmt: skip
    printed = campaignctl_status(env, campaign_id)
    assert settled["summary"] in printed
    for label, field in (("Sent", "succeeded"), ("Failed", "failed"), ("Delivered", "delivered")):
        assert summary_value(printed, label) == str(settled[field]), label
    assert summary_value(printed, "Processed") == str(settled["processed"])

    # Who got what: the table filtered by state, and the CSV export.
    page.get_by_label("Show recipients in state").select_option("undelivered")
    expect(page.locator("#recipients-total")).to_have_attribute("data-total", "3")
    page.get_by_label("Show recipients in state").select_option("failed")
    expect(page.locator("#recipients-total")).to_have_attribute("data-total", "1")
    expect(page.locator("#recipients tr")).to_contain_text("21211")
    page.get_by_label("Show recipients in state").select_option("")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    exported = Path(download.value.path()).read_text().splitlines()
    assert len(exported) == RECIPIENTS + 1 and exported[0].startswith("position,")
    # Nothing here may pass on a second try: no retry is offered.
    expect(page.locator("#retry-failed")).to_be_hidden()
    screenshot(page, "campaign-account")


def test_a_stopped_campaign_reads_sent_and_cancelled_after_a_confirmed_stop(
    make_system, sandbox_admin, page: Page
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(
        twilio_rate_limit_per_second=5,
        twilio_rate_limit_per_minute=300,
        twilio_rate_limit_per_hour=18_000,
    )
    with system.client() as client:
        campaign_id = create_campaign(client, "Stopped", [valid_phone(i) for i in range(30)])["id"]
        client.post(f"/api/campaigns/{campaign_id}/start").raise_for_status()
    page.goto(f"{system.api_url}/#/campaigns/{campaign_id}")
    sign_in(page, TOKEN)
    page.wait_for_function(
        "() => Number(document.querySelector('#progress-count').dataset.processed) >= 5"
    )
    page.get_by_role("button", name="Stop").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("cannot be resumed")
    # Cancelling the dialog leaves the campaign running.
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#campaign-status")).to_contain_text("Sending")
    page.get_by_role("button", name="Stop").click()
    page.get_by_role("dialog").get_by_role("button", name="Stop the campaign").click()
    expect(page.locator("#campaign-status")).to_contain_text("Stopped")

    with system.client() as client:

        def stopped() -> dict | None:
            now = account(client, campaign_id)
            return now if now["status"] == "stopped" and now["waiting"] == 0 else None

        final = eventually_sync(stopped, timeout_s=30, what="the rest cancelled")
    assert final["cancelled"] > 0 and final["succeeded"] + final["cancelled"] == 30
    assert final["summary"] == f"{final['succeeded']} sent · {final['cancelled']} cancelled"
    assert final["percentProcessed"] < 100
    expect(page.locator("#summary")).to_have_text(final["summary"])
    expect(page.locator("#progress-count")).not_to_contain_text("100%")
    assert final["ratePerSecond"] <= 5
    page.get_by_role("link", name="← Campaigns").click()
    expect(page.locator(f"[data-campaign-id='{campaign_id}'] .progress-text")).to_have_text(
        final["summary"]
    )


def test_retry_failed_is_offered_with_its_count_and_confirmed(
    make_system, sandbox_admin, page: Page
) -> None:
    # Half of Twilio's answers are 500s, and the sender gives up at the first one.
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000, "error_rate": 0.5})
    system = make_system(send_max_attempts=1, **FAST)
    with system.client() as client:
        campaign_id = create_campaign(client, "Flaky", [valid_phone(i) for i in range(20)])["id"]
        client.post(f"/api/campaigns/{campaign_id}/start").raise_for_status()

        def finished() -> dict | None:
            body = client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]
            return body if body["status"] == "completed" else None

        retryable = eventually_sync(finished, timeout_s=60, what="completed")["retryableFailures"]
    assert retryable > 0
    sandbox_admin.post("/_sandbox/faults", json={"error_rate": 0}).raise_for_status()
    page.goto(f"{system.api_url}/#/campaigns/{campaign_id}")
    sign_in(page, TOKEN)
    retry = page.get_by_role("button", name=f"Retry {retryable} failed")
    expect(retry).to_be_visible()
    retry.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"sends again to {retryable} recipient")
    dialog.get_by_role("button", name=f"Retry {retryable} failed").click()
    expect(page.locator("#campaign-name")).to_contain_text("Flaky (retry 1)")
    expect(page.locator("#campaign-status")).to_contain_text("Completed")
