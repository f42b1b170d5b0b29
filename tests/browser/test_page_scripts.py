"""The dashboard's scripts on their own, in Chromium: the files are served from disk by
Playwright's router under a made-up origin, so no api runs."""

from __future__ import annotations

import mimetypes

import pytest
from playwright.sync_api import Page, Route

from services.api.routes.web import WEB_DIR

ORIGIN = "http://dashboard.test"


def serve_static(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN)
    if not path.startswith("/static/"):
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>t</title>")
        return
    file = WEB_DIR / path.lstrip("/")
    if not file.is_file():
        route.fulfill(status=404, body="")
        return
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    route.fulfill(status=200, content_type=content_type, body=file.read_bytes())


@pytest.fixture
def blank(page: Page) -> Page:
    page.route(f"{ORIGIN}/**", serve_static)
    page.goto(f"{ORIGIN}/")
    return page


READ_CONTACTS = """async (text) => {
    const { readContacts } = await import("/static/js/views/csv.js");
    try {
        return await readContacts(new File([text], "contacts.csv"));
    } catch (error) {
        return { error: error.message, field: error.field };
    }
}"""


def test_csv_rows_become_recipients_with_the_import_rules(blank: Page) -> None:
    text = (
        "\ufeffPhone,Name,City,Empty\r\n"
        '+34610001000,"Ana, la de Lugo",Lugo,\r\n'
        "\r\n"
        '+34610001001,"Bea\nsegunda línea",,\r\n'
        '+34610001002,"Dice ""hola""",Vigo'
    )
    result = blank.evaluate(READ_CONTACTS, text)
    assert result["contacts"] == [
        {"phone": "+34610001000", "name": "Ana, la de Lugo", "vars": {"City": "Lugo"}},
        {"phone": "+34610001001", "name": "Bea\nsegunda línea", "vars": {}},
        {"phone": "+34610001002", "name": 'Dice "hola"', "vars": {"City": "Vigo"}},
    ]
    # The file line each contact starts on, for the API's errors about contacts[i].
    assert result["lines"] == [2, 4, 6]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the file is empty: a header row is needed"),
        ("name,city\nAna,Lugo\n", "the header row needs a 'phone' column"),
    ],
)
def test_csv_without_a_phone_column_is_refused_on_the_contacts_field(
    blank: Page, text: str, problem: str
) -> None:
    assert blank.evaluate(READ_CONTACTS, text) == {"error": problem, "field": "contacts"}


def test_an_event_stream_is_read_across_chunk_boundaries(blank: Page) -> None:
    events = blank.evaluate(
        """async () => {
            const { followCampaign } = await import("/static/js/stream.js");
            const chunks = [
                "retry: 5\\n\\n: heartbeat\\n\\nevent: sta",
                "tus\\ndata: {\\"status\\"",
                ":{\\"status\\":\\"completed\\"}}\\n\\n",
            ];
            const encoder = new TextEncoder();
            window.fetch = async () => new Response(new ReadableStream({
                start(controller) {
                    for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
                    controller.close();
                },
            }), { status: 200 });
            return await new Promise((resolve) => {
                const seen = [];
                followCampaign("c1", {
                    onStatus: (body) => seen.push(body.status.status),
                    onState: (state) => { seen.push(state); if (state === "ended") resolve(seen); },
                    onError: (error) => resolve([String(error)]),
                });
            });
        }"""
    )
    assert events == ["connecting", "live", "completed", "ended"]
