"""The web dashboard end to end: headless Chromium against the whole system.

Sign in, create a campaign from a CSV file through the form, start it, watch it move
by server-sent events, pause it, resume it, see it complete; API errors on the page.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, Request, Route, expect

from tests.browser.conftest import DESKTOP, PHONE, Screenshot
from tests.e2e.conftest import TOKEN
from tests.e2e.test_campaigns import invalid_phone, ledger, valid_phone
from tests.helpers import eventually_sync

VALID = 160
INVALID = 4
TOTAL = VALID + INVALID
# Slow enough to pause mid-way: about eight seconds of sending.
PACED = {
    "twilio_rate_limit_per_second": 20,
    "twilio_rate_limit_per_minute": 1_200,
    "twilio_rate_limit_per_hour": 72_000,
}


def write_contacts(path: Path) -> Path:
    rows = [f"{valid_phone(i)},Ana {i},Madrid" for i in range(VALID)]
    # Refused by the sandbox with 21211, as Twilio does: failures with a code to explain.
    rows[0:0] = [f"{invalid_phone(i)},Bad {i},Lugo" for i in range(INVALID)]
    path.write_text("phone,name,city\n" + "\n".join(rows) + "\n")
    return path


def shown_processed(page: Page) -> int:
    return int(page.locator("#progress-count").get_attribute("data-processed") or 0)


def processed(client, campaign_id: str) -> int:
    status = client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]
    return status["progress"]["processed"]


def quiet_for(sandbox, seconds: float) -> bool:
    newest = max((m["accepted_at_ms"] for m in ledger(sandbox)), default=0)
    return time.time() * 1000 - newest >= seconds * 1000


def sign_in(page: Page, token: str) -> None:
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_campaign_from_csv_to_completion_with_live_progress(
    make_system, sandbox_admin, page: Page, screenshot: Screenshot, tmp_path: Path
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(**PACED)
    contacts = write_contacts(tmp_path / "contacts.csv")
    page.goto(f"{system.api_url}/")

    # A wrong token is refused in words, once, beside the field, and is not kept.
    sign_in(page, "not-a-token")
    expect(page.locator("#token-error")).to_have_text(
        "Your token was not accepted. Sign in again with a valid API token."
    )
    expect(page.locator("#notice")).to_be_hidden()
    sign_in(page, TOKEN)
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()

    # The API's 422 for an empty name, a row without a phone and one with a wrong phone,
    # in words next to their fields, lines counted as the file counts them.
    page.get_by_role("navigation").get_by_role("link", name="New campaign").click()
    page.get_by_label("Message", exact=True).fill("Hola {{name}} de {{city}}")
    no_phone = tmp_path / "no-phone.csv"
    no_phone.write_text(f"phone,name\n{valid_phone(0)},Ana\n,Bea\n")
    page.get_by_label("Contacts (CSV file)").set_input_files(no_phone)
    page.get_by_label("Priority").select_option("high")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#name-error")).to_have_text("Name is required.")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#contacts-error")).to_contain_text("Line 3: phone is required.")
    expect(page.locator("#notice")).to_have_text("⚠ Please correct the fields marked below.")
    screenshot(page, "new-campaign")
    page.get_by_label("Name", exact=True).fill("Spring sale")
    wrong_phone = tmp_path / "wrong-phone.csv"
    wrong_phone.write_text(f"phone,name\n{valid_phone(0)},Ana\n{valid_phone(1)},Bea\n12,Eva\n")
    page.get_by_label("Contacts (CSV file)").set_input_files(wrong_phone)
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#contacts-error")).to_have_text(
        "Line 4: not a valid phone number (+34 611 001 000 expected)."
    )
    expect(page.locator("#name-error")).to_be_empty()
    page.get_by_label("Contacts (CSV file)").set_input_files(contacts)

    # From here on the campaign page only listens: no polling of queue-status.
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    page.get_by_label("Name", exact=True).fill("Spring sale")
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"#/campaigns/[0-9a-f-]+$"))
    campaign_id = page.url.rsplit("/", 1)[1]
    # The file also went to the contacts import, as campaignctl does.
    expect(page.locator("#notice")).to_contain_text(f"{TOTAL} contacts saved to your list")
    status = page.locator("#campaign-status")
    expect(status).to_contain_text("Draft")
    expect(page.locator("#progress-count")).to_contain_text(f"0 / {TOTAL} processed")

    page.get_by_role("button", name="Start").click()
    page.get_by_role("dialog").get_by_role("button", name=f"Send to {TOTAL} recipients").click()
    expect(status).to_contain_text("Sending")
    page.wait_for_function(
        "n => Number(document.querySelector('#progress-count').dataset.processed) >= n", arg=30
    )
    expect(page.locator("#live-state")).to_contain_text("Live")
    expect(page.locator("#rate")).to_contain_text("of a 20 msg/s limit")

    page.get_by_role("button", name="Pause").click()
    expect(status).to_contain_text("Paused")
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    with system.client() as client:
        # Paused: once the sandbox accepted nothing for a second, the page shows the
        # server's count, and that count stays put while nothing more is sent.
        def settled_count() -> int | None:
            shown = shown_processed(page)
            held = quiet_for(sandbox_admin, 1) and shown == processed(client, campaign_id)
            return shown if held else None

        held = eventually_sync(settled_count, timeout_s=20, what="the paused count shown")
        assert held < TOTAL
        page.set_viewport_size(PHONE)
        screenshot(page, "campaign-phone")
        eventually_sync(lambda: quiet_for(sandbox_admin, 2), timeout_s=10, what="2 s quiet")
        assert shown_processed(page) == processed(client, campaign_id) == held

    page.get_by_role("button", name="Resume").click()
    expect(status).to_contain_text("Sending")
    expect(page.locator("#notice")).to_have_text("Campaign resumed")
    expect(status).to_contain_text("Completed")
    expect(page.locator("#notice")).to_be_hidden()  # it no longer says what is true
    expect(page.locator("#progress-count")).to_contain_text(f"{TOTAL} / {TOTAL} processed (100%)")
    expect(page.locator("#live-state")).to_contain_text("Final")
    failure = page.locator("#errors tr[data-code='21211'] td")
    expect(failure).to_have_text(["At send", str(INVALID), "invalid To number", "Permanent"])
    expect(page.locator("#funnel [data-stage=accepted] .funnel-count")).to_have_text(str(VALID))
    page.set_viewport_size(DESKTOP)
    screenshot(page, "campaign")
    assert not [url for url in requests if "queue-status" in url], requests
    assert [url for url in requests if url.endswith(f"/{campaign_id}/events")]

    with system.client() as client:
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        for name, extra in (("Autumn newsletter", {}), ("Black Friday", {"scheduledAt": tomorrow})):
            contacts = [{"phone": valid_phone(0)}]
            body = {"name": name, "message": "Hola", "contacts": contacts, **extra}
            assert client.post("/api/campaigns", json=body).status_code == 201
    page.get_by_role("link", name="← Campaigns").click()
    row = page.locator(f"[data-campaign-id='{campaign_id}']")
    expect(row).to_contain_text("Completed")
    expect(row.locator(".progress-text")).to_have_text(f"{VALID} sent · {INVALID} failed")
    screenshot(page, "campaigns")

    page.get_by_role("navigation").get_by_role("link", name="System").click()
    expect(page.locator("#alerts")).to_be_visible()
    expect(page.get_by_role("heading", name="Campaigns by status")).to_be_visible()
    screenshot(page, "system")

    # Someone else's campaign, or none: the 404 is on the page.
    page.goto(f"{system.api_url}/#/campaigns/no-such-campaign")
    expect(page.locator("#notice")).to_contain_text("Campaign no-such-campaign not found")
    expect(page.locator("#notice")).not_to_contain_text("404")
    expect(page.get_by_role("heading", name="Campaign not found")).to_be_visible()
    expect(page.locator("#view section.card")).to_have_count(0)  # no empty cards under it

    # A 409: another client starts a draft while the page still offers Start. The page
    # gets the stream's first event, as the api sent it, and no later one, so it cannot
    # know; the API's refusal is what it shows.
    with system.client() as client:
        contacts = [{"phone": valid_phone(1)}]
        body = {"name": "Started elsewhere", "message": "Hola", "contacts": contacts}
        draft = client.post("/api/campaigns", json=body).json()
        first_event = first_stream_event(client, draft["id"])
        served: list[Route] = []

        def first_event_only(route: Route) -> None:
            if served:
                route.abort()
                return
            served.append(route)
            route.fulfill(status=200, content_type="text/event-stream", body=first_event)

        page.route(re.compile(r".*/events$"), first_event_only)
        page.goto(f"{system.api_url}/#/campaigns/{draft['id']}")
        expect(page.get_by_role("button", name="Start")).to_be_visible()
        client.post(f"/api/campaigns/{draft['id']}/start").raise_for_status()
    page.get_by_role("button", name="Start").click()
    page.get_by_role("dialog").get_by_role("button", name="Send to 1 recipient").click()
    expect(page.locator("#notice")).to_contain_text("cannot start: it is")
    expect(page.locator("#notice")).not_to_contain_text("409")


def first_stream_event(client, campaign_id: str) -> str:
    """The first server-sent event of a campaign's live stream, as the api wrote it."""
    with client.stream("GET", f"/api/campaigns/{campaign_id}/events") as response:
        text = ""
        for chunk in response.iter_text():
            text += chunk
            if "event: status" in text and text.rstrip(" ").endswith("\n\n"):
                return text
    raise AssertionError(f"no status event in {text!r}")
