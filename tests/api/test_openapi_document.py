"""The OpenAPI document stands alone: an example for every body, the errors each route
can answer, fields titled in words, and documentation pages that need no other origin.

Read from the app object: generating the document opens no connection.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from services.api.app import create_app
from services.api.deps import get_admin_user
from services.api.schemas.errors import ErrorBody
from services.api.settings import ApiSettings

Document = dict[str, Any]
METHODS = ("get", "put", "post", "patch", "delete")
ERROR_CODES = ("401", "403", "404", "409", "413", "422")


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(ApiSettings())


@pytest.fixture(scope="module")
def document(app: FastAPI) -> Document:
    return app.openapi()


def operations(document: Document) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _component(document: Document, ref: str) -> dict[str, Any]:
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def schema_has_example(document: Document, schema: dict[str, Any]) -> bool:
    if schema.get("examples") or "example" in schema:
        return True
    if "$ref" in schema:
        return schema_has_example(document, _component(document, schema["$ref"]))
    # An optional body (`X | None`): the example of its non-null form.
    forms = [s for s in schema.get("anyOf", []) + schema.get("oneOf", []) if s != {"type": "null"}]
    return bool(forms) and all(schema_has_example(document, form) for form in forms)


def media_has_example(document: Document, media: dict[str, Any]) -> bool:
    if "example" in media or media.get("examples"):
        return True
    return schema_has_example(document, media.get("schema", {}))


def documented_media(content: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """JSON bodies, and the event stream: what a reader needs an example of."""
    for media_type, media in content.items():
        if media_type == "application/json" or media_type == "text/event-stream":
            yield media_type, media


def missing_examples(document: Document) -> list[str]:
    missing = []
    for path, method, operation in operations(document):
        name = f"{method.upper()} {path}"
        body = operation.get("requestBody", {}).get("content", {})
        for media_type, media in documented_media(body):
            if not media_has_example(document, media):
                missing.append(f"{name}: request {media_type}")
        for code, response in operation["responses"].items():
            if not code.startswith("2"):
                continue
            for media_type, media in documented_media(response.get("content", {})):
                if not media_has_example(document, media):
                    missing.append(f"{name}: {code} {media_type}")
    return missing


def test_every_request_and_success_body_has_an_example(document: Document) -> None:
    assert missing_examples(document) == []


class Plain(BaseModel):
    value: int


def test_a_route_without_an_example_is_reported() -> None:
    """The check above catches a new route whose bodies nobody gave an example."""
    app = FastAPI()

    @app.post("/plain")
    async def plain(body: Plain) -> Plain:
        return body

    assert missing_examples(app.openapi()) == [
        "POST /plain: request application/json",
        "POST /plain: 200 application/json",
    ]


def _depends_on(route: APIRoute, call: Any) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if dependant.call is call:
            return True
        pending.extend(dependant.dependencies)
    return False


def routes(app: FastAPI) -> Iterator[tuple[APIRoute, dict[str, Any]]]:
    document = app.openapi()
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods:
                yield route, document["paths"][route.path_format][method.lower()]


def test_each_route_documents_the_errors_it_can_answer(app: FastAPI) -> None:
    lacking = []
    for route, operation in routes(app):
        documented = set(operation["responses"])
        expected = set()
        if operation.get("security"):
            expected.add("401")
        if _depends_on(route, get_admin_user):
            expected.add("403")
        if route.param_convertors:  # an id in the path names something that may not exist
            expected.add("404")
        if route.body_field is not None:
            expected |= {"413", "422"}
        if route.dependant.query_params or route.dependant.path_params:
            expected.add("422")
        if expected - documented:
            lacking.append(f"{route.path_format}: {sorted(expected - documented)}")
    assert lacking == []


def test_the_control_routes_document_a_conflict(document: Document) -> None:
    for action in ("start", "queue-pause", "queue-resume", "queue-stop", "retry-failed"):
        assert (
            "409"
            in document["paths"][f"/api/campaigns/{{campaign_id}}/{action}"]["post"]["responses"]
        ), action


def test_every_documented_error_is_an_error_body_with_a_valid_example(document: Document) -> None:
    checked = 0
    for path, method, operation in operations(document):
        for code in ERROR_CODES:
            response = operation["responses"].get(code)
            if response is None:
                continue
            media = response["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (path, code)
            example = ErrorBody.model_validate(media["example"])
            assert example.message, (method, path, code)
            checked += 1
    assert checked > 100


def test_the_event_stream_is_documented_with_its_format(document: Document) -> None:
    operation = document["paths"]["/api/campaigns/{campaign_id}/events"]["get"]
    assert {"401", "404"} <= set(operation["responses"])
    stream = operation["responses"]["200"]["content"]["text/event-stream"]
    assert stream["example"].startswith("retry: 1000\n\nevent: status\ndata: {")
    for words in ("event: status", "ratePerSecond", "errorKinds", ": heartbeat"):
        assert words in operation["description"], words


def _words(name: str) -> int:
    return len(re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name))


def test_field_titles_read_as_words(document: Document) -> None:
    squashed = []
    for model, schema in document["components"]["schemas"].items():
        for name, field in schema.get("properties", {}).items():
            title = field.get("title", "")
            # "scheduledAt" titled "Scheduledat" is pydantic's default: one word of two.
            if _words(name) > 1 and len(title.split()) < _words(name):
                squashed.append(f"{model}.{name}: {title!r}")
    assert squashed == []
    campaign = document["components"]["schemas"]["CampaignCreate"]["properties"]
    assert campaign["scheduledAt"]["title"] == "Scheduled at"
    assert campaign["fromNumber"]["title"] == "From number"


def _inline_script_hashes(html: str) -> set[str]:
    return {
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    }


@pytest.mark.parametrize(
    ("path", "assets"),
    [
        (
            "/docs",
            (
                "/static/vendor/swagger-ui/swagger-ui-bundle.js",
                "/static/vendor/swagger-ui/swagger-ui.css",
            ),
        ),
        ("/redoc", ("/static/vendor/redoc/redoc.standalone.js",)),
    ],
)
async def test_the_documentation_pages_load_only_vendored_code(
    app: FastAPI, path: str, assets: tuple[str, ...]
) -> None:
    # No lifespan: the pages and their assets need no connection.
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        page = await client.get(path)
        assert page.status_code == 200
        assert "://" not in re.sub(r"<!--.*?-->", "", page.text, flags=re.DOTALL)
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy.split(";")[1]
        # Exactly the page's own inline scripts run, by their hash.
        assert set(re.findall(r"'sha256-[^']+'", policy)) == _inline_script_hashes(page.text)
        for asset in assets:
            assert f'"{asset}"' in page.text
            assert (await client.get(asset)).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200
