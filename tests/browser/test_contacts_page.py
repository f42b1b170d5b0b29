"""The Contacts page on the system of record, and the create form's saved audiences:
import a CSV into a new list (bad rows reported by their line), search, see a list's
members, send a campaign to the list with its preview and another to contacts picked by
search; opt-outs are shown to admins only; empty lists show no pager."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from devstack.system import ADMIN_TOKEN, TOKEN
from tests.browser.conftest import Screenshot
from tests.browser.test_dashboard import sign_in
from tests.e2e.test_campaigns import FAST, valid_phone

SAVED = 3


def test_contacts_lists_and_a_campaign_to_a_saved_list(
    make_system, sandbox_admin, page: Page, screenshot: Screenshot, tmp_path: Path
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000}).raise_for_status()
    system = make_system(**FAST)
    csv_file = tmp_path / "people.csv"
    rows = [f"{valid_phone(i)},Ana {i},Madrid" for i in range(SAVED)]
    csv_file.write_text("phone,name,city\n" + "\n".join([*rows, "not-a-phone,Bad,Lugo"]) + "\n")

    # Nothing yet: the empty states say so, with nothing to page through.
    page.goto(f"{system.api_url}/")
    sign_in(page, TOKEN)
    expect(page.locator(".campaign-list")).to_contain_text("No campaigns yet")
    expect(page.locator("nav.pager")).to_be_hidden()
    page.get_by_role("navigation").get_by_role("link", name="Contacts").click()
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    expect(page.locator("#contacts")).to_contain_text("No contacts yet")
    expect(page.locator("nav.pager").first).to_be_hidden()
    # Opt-outs are for admins: a marketer does not see the section.
    expect(page.locator("#opt-outs")).to_have_count(0)

    page.get_by_label("New list").fill("VIP")
    page.get_by_role("button", name="Create list").click()
    expect(page.locator("#lists")).to_contain_text("VIP")
    # The name that opens the list reads as a link: the page's link colour, not white.
    name_button = page.locator("#lists").get_by_role("button", name="VIP", exact=True)
    expect(name_button).to_have_css("color", "rgb(11, 92, 173)")
    page.get_by_label("Also add them to").select_option(label="VIP (0)")
    page.get_by_label("Import contacts (CSV file)").set_input_files(csv_file)
    page.get_by_role("button", name="Import", exact=True).click()
    report = page.locator("#import-report")
    expect(report).to_contain_text(f"{SAVED} imported ({SAVED} new, 0 updated), 1 skipped")
    expect(report).to_contain_text(f"{SAVED} added to the list")
    expect(report).to_contain_text(f"Line {SAVED + 2}:")  # the header is line 1
    expect(page.locator("#contacts tr")).to_have_count(SAVED)

    page.get_by_label("Search contacts").fill("ana 1")
    expect(page.locator("#contacts tr")).to_have_count(1)
    expect(page.locator("#contacts")).to_contain_text("Ana 1")
    expect(page.locator("#contacts")).to_contain_text("city=Madrid")

    page.locator("#lists").get_by_role("button", name="VIP", exact=True).click()
    expect(page.locator("#members tr")).to_have_count(SAVED)
    expect(page.get_by_label("Also add them to")).to_contain_text(f"VIP ({SAVED})")
    expect(page.get_by_role("navigation", name="Lists pages")).to_have_text("1 list")
    screenshot(page, "contacts")

    # A campaign to the saved list, previewed from the list.
    page.get_by_role("navigation").get_by_role("link", name="New campaign").click()
    page.get_by_label("A saved list").check()
    page.get_by_label("Saved list", exact=True).select_option(label=f"VIP ({SAVED} contacts)")
    page.get_by_label("Message", exact=True).fill("Hola {{name}} de {{city}}")
    expect(page.locator("#preview blockquote").first).to_have_text("Hola Ana 0 de Madrid")
    expect(page.locator("#preview")).to_contain_text(f"{SAVED} recipients")
    page.get_by_label("Name", exact=True).fill("To the list")
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"#/campaigns/[0-9a-f-]+$"))
    expect(page.locator("#summary")).to_have_text(f"{SAVED} waiting")

    # A campaign to saved contacts chosen one by one; none chosen is said in words.
    page.get_by_role("navigation").get_by_role("link", name="New campaign").click()
    page.get_by_role("radio", name="Saved contacts").check()
    page.get_by_label("Name", exact=True).fill("Two of them")
    page.get_by_label("Message", exact=True).fill("Hola {{name}}")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#picked-error")).to_have_text("Choose at least one contact.")
    page.get_by_label("Find saved contacts").fill("ana 2")
    page.get_by_label(f"Ana 2 ({valid_phone(2)})").check()
    page.get_by_label("Find saved contacts").fill(valid_phone(0))
    page.get_by_label(f"Ana 0 ({valid_phone(0)})").check()
    expect(page.locator("#pick-summary")).to_contain_text("2 chosen")
    expect(page.locator("#preview blockquote").first).to_have_text("Hola Ana 2")
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"#/campaigns/[0-9a-f-]+$"))
    expect(page.locator("#summary")).to_have_text("2 waiting")

    # An admin sees the opt-outs.
    with system.client(ADMIN_TOKEN) as admin:
        body = {"phone": valid_phone(7)}
        added = admin.post("/api/suppressions", json=body)
        assert added.status_code in (200, 201), added.text
        listed = admin.get("/api/suppressions", params={"limit": 20})
        assert valid_phone(7) in listed.text, listed.text
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, ADMIN_TOKEN)
    page.goto(f"{system.api_url}/#/contacts")
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    expect(page.locator("#opt-outs")).to_contain_text(valid_phone(7))
