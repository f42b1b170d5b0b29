"""Before a send, in the browser: the create form's live preview (a misspelt variable
shows before anything is stored), a draft edited, cloned and deleted, a test send that
lands in the sandbox and leaves the campaign's counts alone, and a start confirmed with
the first message in front of you."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from devstack.system import TOKEN
from tests.browser.conftest import Screenshot
from tests.browser.test_dashboard import sign_in
from tests.e2e.test_campaigns import FAST, ledger, valid_phone
from tests.helpers import eventually_sync

RECIPIENTS = 3
TEST_PHONE = valid_phone(900)


def queue_account(client, campaign_id: str) -> dict:
    return client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]["account"]


def test_preview_edit_clone_delete_test_send_and_a_confirmed_start(
    make_system, sandbox_admin, page: Page, screenshot: Screenshot, tmp_path: Path
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(**FAST)
    contacts = tmp_path / "contacts.csv"
    rows = [f"{valid_phone(i)},Ana {i}" for i in range(RECIPIENTS)]
    contacts.write_text("phone,name\n" + "\n".join(rows) + "\n")

    page.goto(f"{system.api_url}/#/new")
    sign_in(page, TOKEN)
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    expect(page.locator("#preview")).to_contain_text("Choose a contacts file")

    # A misspelt variable shows in the preview, before anything is stored.
    page.get_by_label("Message", exact=True).fill("Hola {{nmae}}")
    page.get_by_label("Contacts (CSV file)").set_input_files(contacts)
    missing = page.locator("#missing-variables [data-variable=nmae]")
    expect(missing).to_contain_text(f"missing for {RECIPIENTS} recipients")
    page.get_by_label("Message", exact=True).fill("Hola {{name}}")
    expect(page.locator("#preview")).to_contain_text("Every recipient has every variable")
    expect(page.locator("#preview blockquote").first).to_have_text("Hola Ana 0")
    screenshot(page, "new-campaign-preview")
    with system.client() as client:
        assert client.get("/api/campaigns").json()["total"] == 0  # a preview stores nothing

    page.get_by_label("Name", exact=True).fill("Spring")
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"#/campaigns/[0-9a-f-]+$"))
    campaign_id = page.url.rsplit("/", 1)[1]

    # Edit the draft: the form comes filled in, and the audience stays without a new file.
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit campaign")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Spring")
    expect(page.locator("#preview")).to_contain_text(f"{RECIPIENTS} recipients, as saved")
    page.get_by_label("Name", exact=True).fill("Spring sale")
    page.get_by_label("Message", exact=True).fill("Hola {{name}}!")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#campaign-name")).to_have_text("Spring sale")
    expect(page.locator("#notice")).to_contain_text("Changes saved")
    with system.client() as client:
        saved = client.get(f"/api/campaigns/{campaign_id}").json()
        assert (saved["message"], saved["totalContacts"]) == ("Hola {{name}}!", RECIPIENTS)

    # Clone it, then delete the clone (a draft) after confirming.
    page.get_by_role("button", name="Clone").click()
    expect(page.locator("#campaign-name")).to_have_text("Spring sale (copy)")
    clone_id = page.url.rsplit("/", 1)[1]
    assert clone_id != campaign_id
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete the campaign").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    expect(page.locator(f"[data-campaign-id='{clone_id}']")).to_have_count(0)
    expect(page.locator(f"[data-campaign-id='{campaign_id}']")).to_have_count(1)
    with system.client() as client:
        assert client.get(f"/api/campaigns/{clone_id}").status_code == 404

    # A test send: through the sandbox, and nothing counted in the campaign.
    page.goto(f"{system.api_url}/#/campaigns/{campaign_id}")
    page.get_by_label("Send a test to").fill(TEST_PHONE)
    page.get_by_role("button", name="Send test").click()
    expect(page.locator("#notice")).to_contain_text(f"Test message queued to {TEST_PHONE}")
    test_message = eventually_sync(
        lambda: [m for m in ledger(sandbox_admin) if m["to"].endswith(TEST_PHONE)],
        timeout_s=30,
        what="the test message in the sandbox",
    )
    assert len(test_message) == 1
    with system.client() as client:
        account = queue_account(client, campaign_id)
        assert (account["waiting"], account["processed"]) == (RECIPIENTS, 0)
    expect(page.locator("#summary")).to_have_text(f"{RECIPIENTS} waiting")

    # Start, with the first message as it will go out in front of you.
    page.get_by_role("button", name="Start").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("blockquote")).to_have_text("Hola Ana 0!")
    screenshot(page, "start-confirmation")
    dialog.get_by_role("button", name=f"Send to {RECIPIENTS} recipients").click()
    expect(page.locator("#campaign-status")).to_contain_text("Completed")
    expect(page.locator("#summary")).to_have_text(f"{RECIPIENTS} sent")
    # Finished: no edit or delete, a clone still.
    expect(page.get_by_role("link", name="Edit")).to_be_hidden()
    expect(page.get_by_role("button", name="Delete")).to_be_hidden()
    expect(page.get_by_role("button", name="Clone")).to_be_visible()
    sent = [m for m in ledger(sandbox_admin) if not m["to"].endswith(TEST_PHONE)]
    assert len(sent) == RECIPIENTS
