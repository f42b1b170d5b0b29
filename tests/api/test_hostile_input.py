"""Bad input at the api's door: refused with a 4xx naming the field, never altered,
never stalling the event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest

import services.api.audience
from services.api.schemas.base import MAX_AUDIENCE_ITEMS
from tests.api.conftest import Api, create_campaign, valid_phone
from tests.helpers import eventually

ONE_MIB = 1024 * 1024


def _contacts(count: int, **fields: object) -> list[dict]:
    return [{"phone": valid_phone(i), "name": f"n{i}", **fields} for i in range(count)]


async def _import(api: Api, data: bytes) -> dict:
    response = await api.alice.post(
        "/api/contacts/import", files={"file": ("c.csv", data, "text/csv")}
    )
    return {"status": response.status_code, **response.json()}


async def _stored_contacts(api: Api) -> list[dict]:
    return (await api.alice.get("/api/contacts", params={"limit": 1000})).json()["contacts"]


# 1. Size ----------------------------------------------------------------------------


async def test_a_body_over_the_cap_is_a_413_with_a_json_body(api: Api) -> None:
    body = orjson.dumps({"name": "big", "message": "hi", "contacts": _contacts(30_000)})
    assert len(body) > ONE_MIB
    response = await api.alice.post(
        "/api/campaigns", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "API_MAX_BODY_BYTES" in response.json()["message"]


async def test_a_chunked_body_over_the_cap_is_refused_while_it_streams(api: Api) -> None:
    async def chunks():
        yield b'{"name": "big", "message": "hi", "contacts": ['
        for _ in range(40):
            yield b'"ct_0000000000", ' * 2_000
        yield b'"ct_0000000000"]}'

    response = await api.alice.post(
        "/api/campaigns", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "API_MAX_BODY_BYTES" in response.json()["message"]


async def test_more_audience_entries_than_the_cap_are_a_422_pointing_at_the_import(
    api: Api,
) -> None:
    response = await api.alice.post(
        "/api/campaigns",
        json={"name": "many", "message": "hi", "contacts": ["c"] * (MAX_AUDIENCE_ITEMS + 1)},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "contacts"
    assert "/api/contacts/import" in response.json()["message"]


async def test_the_limits_are_in_the_openapi_descriptions(api: Api) -> None:
    spec = (await api.anonymous.get("/openapi.json")).json()
    contacts = spec["components"]["schemas"]["CampaignCreate"]["properties"]["contacts"]
    # Optional (a campaign may name a list instead): the limit is on its array form.
    array = next(form for form in contacts.get("anyOf", [contacts]) if form.get("type") == "array")
    assert array["maxItems"] == MAX_AUDIENCE_ITEMS
    assert "/api/contacts/import" in contacts["description"]
    create = spec["paths"]["/api/campaigns"]["post"]["description"]
    assert "API_MAX_BODY_BYTES" in create


async def test_a_cheap_request_answers_while_a_large_audience_is_parsed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Phone parsing of the create waits for this event: had it run on the event loop,
    # nothing else could answer and the wait would time out.
    parsing = threading.Event()
    health_answered = threading.Event()
    timed_out: list[bool] = []
    parse = services.api.audience.require_phone

    def gated_parse(raw: str, region: str, loc: tuple) -> str:
        if not parsing.is_set():
            parsing.set()
            timed_out.append(not health_answered.wait(timeout=10))
        return parse(raw, region, loc)

    monkeypatch.setattr(services.api.audience, "require_phone", gated_parse)
    create = asyncio.create_task(
        api.alice.post(
            "/api/campaigns", json={"name": "big", "message": "hi", "contacts": _contacts(2_000)}
        )
    )

    async def parse_started() -> bool:
        return parsing.is_set() or create.done()

    await eventually(parse_started, timeout_s=10, what="the create's phone parsing")
    health = await api.anonymous.get("/health")
    health_answered.set()
    assert health.status_code == 200
    created = await create
    assert created.status_code == 201, created.text
    assert timed_out == [False]


# 2. Length once personalised ------------------------------------------------------


async def test_a_message_too_long_once_personalised_is_refused_naming_the_contact(
    api: Api,
) -> None:
    response = await api.alice.post(
        "/api/campaigns",
        json={
            "name": "long",
            "message": "x" * 700 + " {{bio}}",
            "contacts": [
                {"phone": valid_phone(0), "vars": {"bio": "short"}},
                {"phone": valid_phone(1), "vars": {"bio": "y" * 1_000}},
            ],
        },
    )
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "message"
    assert "contacts[1]" in body["message"] and "1,701 characters" in body["message"]
    assert body["detail"][0]["input"] == {"contact": 1, "phone": valid_phone(1), "length": 1701}


# 3. Missing variables ---------------------------------------------------------------


async def _with_missing_code(api: Api, **extra: object) -> tuple[int, dict]:
    added = await api.alice.post("/api/contacts", json=[{"phone": valid_phone(9), "name": "Eva"}])
    stored_id = added.json()["contacts"][0]["id"]
    response = await api.alice.post(
        "/api/campaigns",
        json={
            "name": "codes",
            "message": "Hola {{name}}, tu código es {{code}}",
            "contacts": [
                {"phone": valid_phone(0), "name": "Ana", "vars": {"code": "A1"}},
                {"phone": valid_phone(1), "vars": {"code": "B2"}},
                stored_id,
            ],
            **extra,
        },
    )
    return response.status_code, response.json()


async def test_variables_contacts_lack_are_a_422_listing_them_by_default(api: Api) -> None:
    status, body = await _with_missing_code(api)
    assert status == 422
    assert body["field"] == "contacts"
    assert body["detail"][0]["input"] == {"missingVars": {"name": 1, "code": 1}}
    assert "code (1 contact)" in body["message"] and "missingVars" in body["message"]


async def test_missing_vars_empty_keeps_everyone(api: Api) -> None:
    status, body = await _with_missing_code(api, missingVars="empty")
    assert status == 201, body
    assert body["totalContacts"] == 3 and "skippedContacts" not in body


async def test_missing_vars_skip_leaves_those_contacts_out_and_counts_them(api: Api) -> None:
    status, body = await _with_missing_code(api, missingVars="skip")
    assert status == 201, body
    assert (body["totalContacts"], body["skippedContacts"]) == (1, 2)
    audience = await api.recipients.page(body["id"], 0, 10)
    assert [r.phone for r in audience] == [valid_phone(0)]


# 4. Input silently altered or lost --------------------------------------------------


async def test_a_latin1_csv_is_refused_naming_line_and_byte_and_nothing_is_imported(
    api: Api,
) -> None:
    data = f"phone,name\n{valid_phone(0)},Ana\n{valid_phone(1)},José\n".encode("latin-1")
    result = await _import(api, data)
    assert result["status"] == 422
    assert result["field"] == "file"
    assert "line 3" in result["message"] and "0xE9" in result["message"]
    assert await _stored_contacts(api) == []


async def test_a_utf8_csv_with_a_bom_keeps_its_accents(api: Api) -> None:
    data = "\ufeffphone,name\n" + f"{valid_phone(1)},José\n"
    result = await _import(api, data.encode())
    assert (result["status"], result["imported"]) == (200, 1)
    assert [c["name"] for c in await _stored_contacts(api)] == ["José"]


async def test_an_unterminated_quote_is_a_row_error_not_a_swallowed_row(api: Api) -> None:
    data = (
        f'phone,name\n{valid_phone(0)},Ana\n{valid_phone(1)},"Bea\n'
        f'{valid_phone(2)},Carl\n{valid_phone(3)},"Dan"\n{valid_phone(4)},Eva\n'
    )
    result = await _import(api, data.encode())
    assert result["status"] == 200
    assert result["errors"][0]["row"] == 3
    assert "line 3 to line 5" in result["errors"][0]["message"]
    names = {c["name"] for c in await _stored_contacts(api)}
    assert names == {"Ana", "Eva"}
    assert not any("\n" in name for name in names)


async def test_more_csv_columns_than_a_contact_has_vars_are_refused(api: Api) -> None:
    header = ",".join(["phone", *(f"v{i}" for i in range(2_000))])
    result = await _import(api, f"{header}\n{valid_phone(0)}\n".encode())
    assert result["status"] == 422
    assert "2,000 variable columns" in result["message"]


async def test_a_csv_row_with_a_control_character_is_reported(api: Api) -> None:
    data = f"phone,name\n{valid_phone(0)},An\x00a\n{valid_phone(1)},Bea\n"
    result = await _import(api, data.encode())
    assert (result["imported"], result["skipped"]) == (1, 1)
    assert result["errors"][0]["row"] == 2 and "U+0000" in result["errors"][0]["message"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"contacts": [{"phone": valid_phone(0), "name": "An\x00a"}]}, "contacts[0].name"),
        ({"contacts": [{"phone": valid_phone(0), "vars": {"c": "\x1b[2J"}}]}, "contacts[0].vars.c"),
        ({"message": "Pay \u202eusd 001\u202c now"}, "message.body"),
        ({"name": "sale\u2066"}, "name"),
        ({"message": {"contentSid": "HX" + "0" * 32, "contentVariables": {"1": "a\nb"}}}, None),
    ],
)
async def test_control_and_bidi_characters_are_refused_naming_the_field(
    api: Api, overrides: dict, field: str | None
) -> None:
    body = {"name": "x", "message": "hi", "contacts": [valid_phone(0)], **overrides}
    response = await api.alice.post("/api/campaigns", json=body)
    assert response.status_code == 422, response.text
    if field is not None:
        assert response.json()["field"] == field
    assert "not allowed" in response.json()["message"]


async def test_a_stored_contact_with_a_control_character_is_refused(api: Api) -> None:
    response = await api.alice.post("/api/contacts", json={"phone": valid_phone(0), "name": "\x07"})
    assert response.status_code == 422
    # The body is one contact or a list: pydantic names the union member it tried.
    assert response.json()["field"] == "ContactCreate.name"


async def test_line_breaks_and_tabs_stay_allowed_in_a_text(api: Api) -> None:
    created = await create_campaign(api.alice, message="Hola {{name}}\n\tsee you\r\n")
    assert created["message"] == "Hola {{name}}\n\tsee you\r\n"


async def test_an_unknown_field_is_a_422_naming_it(api: Api) -> None:
    due = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await api.alice.post(
        "/api/campaigns",
        json={"name": "x", "message": "hi", "contacts": [valid_phone(0)], "scheduleAt": due},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "scheduleAt"


async def test_camel_case_and_python_names_both_still_work(api: Api) -> None:
    due = datetime.now(UTC) + timedelta(hours=1)
    by_alias = await create_campaign(api.alice, scheduledAt=due.isoformat())
    by_name = await create_campaign(api.alice, scheduled_at=due.isoformat())
    assert by_alias["status"] == by_name["status"] == "scheduled"


# 5. Ids naming other Redis keys ------------------------------------------------------


@pytest.mark.parametrize("suffix", [":audience", ":audience/queue-status", ":audience/start"])
async def test_an_id_naming_another_redis_key_is_a_404(api: Api, suffix: str) -> None:
    campaign = await create_campaign(api.alice)
    path = f"/api/campaigns/{campaign['id']}{suffix}"
    method = api.alice.post if suffix.endswith("start") else api.alice.get
    response = await method(path)
    assert response.status_code == 404, response.text


# PostgreSQL's text cannot hold a NUL: an id holding one used to reach it as a 500.
@pytest.mark.parametrize(
    ("method", "path", "params", "field", "text"),
    [
        (
            "post",
            "/api/contacts/import",
            {"listId": "\x00"},
            "listId",
            "Saved list must not contain a NUL character (U+0000)",
        ),
        ("get", "/api/lists/ab%00cd", None, "list_id", None),
        ("get", "/api/campaigns/%00/queue-status", None, "campaign_id", None),
        ("get", "/api/contacts", {"search": "+34\x00"}, "search", None),
    ],
)
async def test_a_nul_in_an_id_or_a_query_is_a_422_naming_it(
    api: Api, method: str, path: str, params: dict | None, field: str, text: str | None
) -> None:
    if method == "post":
        files = {"file": ("c.csv", b"phone\n", "text/csv")}
        response = await api.alice.post(path, params=params, files=files)
    else:
        response = await api.alice.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert "NUL" in response.json()["message"]
    if text is not None:
        assert response.json()["message"] == text
    # The same route still serves a request without one.
    assert (await api.alice.get("/api/contacts", params={"search": "+34"})).status_code == 200


# 6. scheduledAt ----------------------------------------------------------------------


async def test_scheduled_at_more_than_a_year_ahead_is_refused(api: Api) -> None:
    for due in ("9999-12-31T00:00:00Z", (datetime.now(UTC) + timedelta(days=400)).isoformat()):
        response = await api.alice.post(
            "/api/campaigns",
            json={"name": "x", "message": "hi", "contacts": [valid_phone(0)], "scheduledAt": due},
        )
        assert response.status_code == 422
        assert response.json()["field"] == "scheduledAt"
    within = (datetime.now(UTC) + timedelta(days=300)).isoformat()
    assert (await create_campaign(api.alice, scheduledAt=within))["status"] == "scheduled"
