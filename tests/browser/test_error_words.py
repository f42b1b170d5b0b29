"""What the page says when the API refuses (static/js/api.js, error-words.js): the API's
own words for a 422, a plain sentence for the rest, and never an HTTP status code."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.test_page_scripts import blank  # noqa: F401  (the fixture)
from tests.unit.test_error_words import api_422_body

MESSAGE = """async ([status, body]) => {
    const { ApiError } = await import("/static/js/api.js");
    return new ApiError(status, body).message;
}"""


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (
            401,
            {"detail": "invalid or missing bearer token"},
            "Your token was not accepted. Sign in again with a valid API token.",
        ),
        (
            422,
            api_422_body({"message": "Hola", "contacts": []}),
            "Name is required, and 1 more to correct.",
        ),
        (404, {"detail": "campaign 42 not found"}, "Campaign 42 not found"),
        (
            409,
            {"detail": "campaign 42: cannot start: it is running"},
            "Campaign 42: cannot start: it is running",
        ),
        (0, None, "The server cannot be reached. Check your connection and try again."),
    ],
)
def test_the_notice_says_it_in_words_without_the_status_code(
    blank: Page,  # noqa: F811
    status: int,
    body: dict | None,
    shown: str,
) -> None:
    text = blank.evaluate(MESSAGE, [status, body])
    assert text == shown
    assert "should" not in text and "Field required" not in text
