"""Every operation of the OpenAPI document, fuzzed with schemathesis against the live app.

The app runs in-process on the real Kafka and Redis. Whatever a client sends, the API
answers without a 5xx and as its document says, and every 4xx is JSON naming the problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, HookContext, Response
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from services.api.app import create_app
from services.api.settings import ApiSettings
from tests.api.conftest import ALICE_TOKEN, valid_phone

AUTHORIZATION = {"Authorization": f"Bearer {ALICE_TOKEN}"}
PHONE_FIELDS = ("phone", "fromNumber")
FUTURE_FIELDS = ("scheduledAt", "expiresAt")

# The document the app serves at /openapi.json, read from the app object when the tests
# are collected: schemathesis.pytest.from_fixture, which would load it from the running
# app, reads pytest's Node._nodeid, gone in pytest 9.2.
# The live event stream is left out: a running campaign's stream lasts minutes, and
# tests/browser/test_live_events.py covers it.
schema = schemathesis.openapi.from_dict(create_app(ApiSettings()).openapi()).exclude(
    path_regex=r"/events$"
)
schema.config.update(headers=AUTHORIZATION)


@dataclass
class Seeded:
    """What the running test stored before fuzzing (see live_app), for the hooks below."""

    campaign_ids: list[str] = field(default_factory=list)
    contact_ids: list[str] = field(default_factory=list)


seeded = Seeded()


@schema.hook
def flatmap_path_parameters(
    _context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Aim half the campaign ids at campaigns that exist: a random id is only ever a 404."""
    if not path_parameters or "campaign_id" not in path_parameters or not seeded.campaign_ids:
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters),
        st.sampled_from(seeded.campaign_ids).map(
            lambda campaign_id: {**path_parameters, "campaign_id": campaign_id}
        ),
    )


@st.composite
def _some_references_real(draw: st.DrawFn, body: Any) -> Any:
    phones = st.integers(0, 999).map(valid_phone)
    contact_ids = st.sampled_from(seeded.contact_ids)
    now = datetime.now(UTC)
    future = st.one_of(
        st.timedeltas(timedelta(minutes=1), timedelta(days=36_500)).map(lambda ahead: now + ahead),
        st.just(datetime.max.replace(tzinfo=UTC)),  # the boundary random dates never reach
    ).map(datetime.isoformat)

    def maybe(value: Any, real: st.SearchStrategy[str]) -> Any:
        if not isinstance(value, str):
            return visit(value)
        # Three times in four: a body needs all its references real to be accepted.
        return draw(real) if draw(st.integers(0, 3)) else value

    def visit_field(name: str, value: Any) -> Any:
        if name in PHONE_FIELDS:
            return maybe(value, phones)
        if name == "contactId":
            return maybe(value, contact_ids)
        if name in FUTURE_FIELDS:
            return maybe(value, future)
        if name == "contacts" and isinstance(value, list):
            # A string in an audience is a stored contact's id.
            return [maybe(item, contact_ids) for item in value]
        return visit(value)

    def visit(value: Any) -> Any:
        if isinstance(value, list):
            return [visit(item) for item in value]
        if isinstance(value, dict):
            return {name: visit_field(name, item) for name, item in value.items()}
        return value

    return visit(body)


@schema.hook
def flatmap_body(_context: HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Make some generated phones, contact ids and dates real ones: random text is almost
    never a valid number or a stored id, half the dates are past, and without them
    hardly a campaign would be created."""
    if not seeded.contact_ids:
        return st.just(body)
    return _some_references_real(body)


def _campaign(name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "message": "Hola {{name}}",
        "contacts": [{"phone": valid_phone(i), "name": f"n{i}"} for i in range(2)],
        **overrides,
    }


def _seed(app: FastAPI) -> None:
    """Two stored contacts, and one campaign in each state the control endpoints move between."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with asgi.get_client(app) as client:
        client.headers.update(AUTHORIZATION)
        contacts = [{"phone": valid_phone(900 + i), "name": f"c{i}"} for i in range(2)]
        response = client.post("/api/contacts", json=contacts)
        assert response.status_code == 201, response.text
        seeded.contact_ids[:] = [contact["id"] for contact in response.json()["contacts"]]

        def create(body: dict[str, Any]) -> str:
            response = client.post("/api/campaigns", json=body)
            assert response.status_code == 201, response.text
            return response.json()["id"]

        draft = create(_campaign("draft"))
        scheduled = create(_campaign("scheduled", scheduledAt=tomorrow))
        queued, paused, stopped = (
            create(_campaign(name)) for name in ("queued", "paused", "stopped")
        )
        for campaign_id in (queued, paused, stopped):
            assert client.post(f"/api/campaigns/{campaign_id}/start").status_code == 200
        assert client.post(f"/api/campaigns/{paused}/queue-pause").status_code == 200
        assert client.post(f"/api/campaigns/{stopped}/queue-stop").status_code == 200
        seeded.campaign_ids[:] = [draft, scheduled, queued, paused, stopped]


@pytest.fixture
def live_app(make_settings, redis) -> Iterator[FastAPI]:
    """The app on this test's Kafka topics and Redis keys, with seeded contacts and campaigns.

    schemathesis runs ASGI apps on an event loop of its own; its client starts the app's
    lifespan there, so the connections it opens live on the loop the requests run on.
    Shutting the lifespan down closes them: nothing keeps running after the test.
    """
    api_settings = make_settings(
        ApiSettings,
        api_tokens=f"alice:{ALICE_TOKEN}",
        batch_size=2,
        # Not the default: exercises the expiry every campaign then gets.
        campaign_default_expiry_s=86_400,
    )
    app = create_app(api_settings)
    try:
        _seed(app)
        yield app
    finally:
        seeded.campaign_ids.clear()
        seeded.contact_ids.clear()
        asgi.shutdown_lifespans()


def problem_is_named(_ctx: CheckContext, response: Response, _case: Case) -> None:
    """A 4xx is a JSON object whose ``message`` says what is wrong; a 422 names the field."""
    if not 400 <= response.status_code < 500:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"a 4xx answered as {content_type!r}"
    body = response.json()
    assert isinstance(body, dict), f"a 4xx body that is not an object: {body!r}"
    assert isinstance(body.get("message"), str) and body["message"], "a 4xx without a message"
    assert body.get("detail"), "a 4xx without detail"
    if response.status_code == 422:
        assert isinstance(body.get("field"), str) and body["field"], "a 422 naming no field"
        assert isinstance(body["detail"], list), "a 422 without its list of errors"
        for error in body["detail"]:
            assert {"loc", "msg", "type", "words", "text"} <= set(error), (
                f"an error unworded: {error}"
            )
        # The message is the first problem in words, the field named as a person would.
        assert body["message"] == body["detail"][0]["text"], "a message not the first problem"


@schema.parametrize()
@settings(
    # 30 cases an operation: at 50 the fuzz took about 115 s of a suite that must fit
    # CI's 45 minutes. Each run draws new cases, so coverage still grows run by run.
    max_examples=30,
    # Real Redis and Kafka behind every call: timings vary, and are not what is tested.
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        # One live app serves every example of an operation, on purpose.
        HealthCheck.function_scoped_fixture,
    ],
)
def test_every_operation_answers_as_documented(case: Case, live_app: FastAPI) -> None:
    case.call_and_validate(
        app=live_app,
        checks=[
            schemathesis.checks.not_a_server_error,
            response_schema_conformance,
            problem_is_named,
        ],
    )
