"""The API's documentation pages work with no network but the api's own origin.

Every request to another origin is aborted, as offline it would fail: Swagger UI and
ReDoc must still draw the operations, from the vendored code and /openapi.json alone.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Screenshot

START = "/api/campaigns/{campaign_id}/start"


def only_own_origin(page: Page, origin: str) -> list[str]:
    """Abort whatever goes elsewhere; the URLs that tried, for the test to assert on."""
    elsewhere: list[str] = []
    own = urlsplit(origin).netloc

    def handle(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        # data: and blob: URLs never leave the browser.
        if parts.scheme in ("data", "blob") or parts.netloc == own:
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", handle)
    return elsewhere


def csp_violations(page: Page) -> list[str]:
    """What the page's Content-Security-Policy stopped, but ReDoc's "by Redocly" logo:
    an image it links from its own CDN, which the policy is there to keep out."""
    messages: list[str] = []

    def record(text: str) -> None:
        if "Content Security Policy" in text and "Loading the image" not in text:
            messages.append(text)

    page.on("console", lambda message: record(message.text))
    return messages


@pytest.fixture
def api_url(make_system) -> str:
    return make_system().api_url


Check = Callable[[Page], None]


def swagger_ui_shows_the_operations(page: Page) -> None:
    operation = page.locator(".opblock", has=page.locator(f'[data-path="{START}"]'))
    expect(operation.first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/contacts").first).to_be_visible()
    # Opened, an operation shows the documented example and the error answers.
    operation.first.locator(".opblock-summary-control").click()
    responses = operation.first.locator(".responses-table")
    for code in ("200", "401", "404", "409"):
        expect(responses.locator(f'tr[data-code="{code}"]').first).to_be_attached()


def redoc_shows_the_operations(page: Page) -> None:
    expect(page.locator("h2", has_text="Start Campaign").first).to_be_visible()
    expect(page.locator("h2", has_text="Campaign status events").first).to_be_visible()
    # The menu lists the operations of each tag.
    expect(page.locator("[role=menuitem]").first).to_be_visible()


@pytest.mark.parametrize(
    ("path", "shows"),
    [("/docs", swagger_ui_shows_the_operations), ("/redoc", redoc_shows_the_operations)],
    ids=["swagger-ui", "redoc"],
)
def test_the_documentation_draws_from_the_api_origin_alone(
    api_url: str, page: Page, screenshot: Screenshot, path: str, shows: Check
) -> None:
    elsewhere = only_own_origin(page, api_url)
    violations = csp_violations(page)
    response = page.goto(f"{api_url}{path}")
    assert response is not None and response.ok
    assert "cdn" not in (response.header_value("content-security-policy") or "")
    shows(page)
    if path == "/docs":  # ReDoc's full page would be megabytes of the same routes
        screenshot(page, "api-docs")
    assert elsewhere == [], f"requests to another origin: {elsewhere}"
    assert violations == [], violations
