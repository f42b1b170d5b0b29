"""Creating and reading campaigns: shapes, ownership, authentication, validation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.api.schemas.base import MAX_PAGE
from services.api.settings import ApiSettings
from shared.events.models import Recipient
from shared.store.campaigns import CampaignStore
from tests.api.conftest import API_TOKENS, Api, create_campaign, serving, valid_phone

CAMPAIGN_FIELDS = {
    "id",
    "name",
    "status",
    "allowedActions",
    "priority",
    "message",
    "totalContacts",
    "createdAt",
    "scheduledAt",
    "expiresAt",
    "startedAt",
    "finishedAt",
    "jobId",
    "fromNumber",
    "messagingServiceSid",
    "sendWindow",
    "throttledUntil",
}
SID = "HX" + "ab" * 16


def store(api: Api) -> CampaignStore:
    return api.campaigns


async def test_inline_text_campaign_is_created_as_a_draft_with_its_audience(api: Api) -> None:
    response = await api.alice.post(
        "/api/campaigns",
        json={
            "name": "spring sale",
            "message": "Hola {{name}}, {{code}}",
            "contacts": [
                {"phone": "+34 612 34 56 78", "name": "Ana", "vars": {"code": "A1"}},
                {"phone": "(415) 555-2671"},  # no +: read in DEFAULT_PHONE_REGION (US)
                {"phone": "+34612345678", "name": "Ana again"},  # duplicates stay
            ],
            "priority": "high",
            "fromNumber": "whatsapp:+14155238886",
            # The second contact has neither: filled with nothing, as asked.
            "missingVars": "empty",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == CAMPAIGN_FIELDS
    assert body["status"] == "draft"
    assert body["message"] == "Hola {{name}}, {{code}}"
    assert (body["priority"], body["totalContacts"], body["fromNumber"]) == (
        "high",
        3,
        "+14155238886",
    )
    assert body["jobId"] is None and body["scheduledAt"] is None
    audience = await api.recipients.page(body["id"], 0, 10)
    assert audience == [
        Recipient(contact_id="inline-0", phone="+34612345678", name="Ana", vars={"code": "A1"}),
        Recipient(contact_id="inline-1", phone="+14155552671"),
        Recipient(contact_id="inline-2", phone="+34612345678", name="Ana again"),
    ]


async def test_stored_contacts_and_a_template_make_one_audience(api: Api) -> None:
    added = await api.alice.post(
        "/api/contacts",
        json=[
            {"phone": valid_phone(1), "name": "Bea", "vars": {"city": "Vigo"}},
            {"phone": valid_phone(2)},
        ],
    )
    assert added.status_code == 201, added.text
    first, second = (c["id"] for c in added.json()["contacts"])
    body = await create_campaign(
        api.alice,
        message={"contentSid": SID, "contentVariables": {"1": "{{name}}", "2": "{{city}}"}},
        contacts=[first, {"phone": valid_phone(3), "name": "Cai"}, second, first],
    )
    assert body["message"] == {
        "contentSid": SID,
        "contentVariables": {"1": "{{name}}", "2": "{{city}}"},
    }
    assert body["totalContacts"] == 3  # the stored contact listed twice counts once
    audience = await api.recipients.page(body["id"], 0, 10)
    assert [(r.contact_id, r.phone, r.name, r.vars) for r in audience] == [
        (first, valid_phone(1), "Bea", {"city": "Vigo"}),
        ("inline-1", valid_phone(3), "Cai", {}),
        (second, valid_phone(2), None, {}),
    ]


async def test_get_by_id_and_paginated_list_show_only_own_campaigns(api: Api) -> None:
    ids = [(await create_campaign(api.alice, name=f"c{i}"))["id"] for i in range(3)]
    await create_campaign(api.bob, name="bob's")

    one = await api.alice.get(f"/api/campaigns/{ids[0]}")
    assert one.status_code == 200 and one.json()["name"] == "c0"

    page1 = (await api.alice.get("/api/campaigns", params={"page": 1, "limit": 2})).json()
    page2 = (await api.alice.get("/api/campaigns", params={"page": 2, "limit": 2})).json()
    assert (page1["total"], page1["page"], page1["limit"]) == (3, 1, 2)
    assert [c["name"] for c in page1["campaigns"]] == ["c2", "c1"]  # newest first
    assert [c["name"] for c in page2["campaigns"]] == ["c0"]

    foreign = await api.bob.get(f"/api/campaigns/{ids[0]}")
    assert foreign.status_code == 404
    assert foreign.json()["detail"] == f"campaign {ids[0]} not found"
    assert (await api.alice.get("/api/campaigns/nope")).status_code == 404


async def test_a_page_past_the_last_possible_one_is_422_naming_page(api: Api) -> None:
    # Redis offsets are 64-bit: a larger page once reached Redis and answered 503.
    for page in (MAX_PAGE + 1, 2**70):
        for path in ("/api/campaigns", "/api/contacts"):
            response = await api.alice.get(path, params={"page": page})
            assert response.status_code == 422, (path, page, response.text)
            assert response.json()["field"] == "page"


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_missing_or_wrong_token_is_401(api: Api, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for method, path in [
        ("GET", "/api/campaigns"),
        ("POST", "/api/campaigns"),
        ("GET", "/api/contacts"),
        ("GET", "/api/dashboard/campaign-queue-metrics"),
        ("POST", "/api/campaigns/x/start"),
    ]:
        response = await api.anonymous.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert "detail" in response.json()
    assert (await api.anonymous.get("/health")).status_code == 200


async def test_scheduled_campaign_is_stored_scheduled(api: Api) -> None:
    due = datetime.now(UTC) + timedelta(hours=1)
    body = await create_campaign(api.alice, scheduledAt=due.isoformat())
    assert body["status"] == "scheduled"
    assert datetime.fromisoformat(body["scheduledAt"]) == due
    later = due + timedelta(seconds=1)
    assert await store(api).due_schedules(later) == [body["id"]]
    assert await store(api).due_schedules(due - timedelta(seconds=1)) == []


async def test_default_expiry_counts_from_the_schedule_and_never_overflows(
    make_settings, redis
) -> None:
    settings = make_settings(ApiSettings, api_tokens=API_TOKENS, campaign_default_expiry_s=3600)
    async with serving(settings, redis) as api:
        due = datetime.now(UTC) + timedelta(days=1)
        body = await create_campaign(api.alice, scheduledAt=due.isoformat())
        assert datetime.fromisoformat(body["expiresAt"]) == due + timedelta(hours=1)
    # An expiry past the end of year 9999 is more than datetime counts: no expiry.
    forever = make_settings(ApiSettings, api_tokens=API_TOKENS, campaign_default_expiry_s=10**12)
    async with serving(forever, redis) as api:
        body = await create_campaign(api.alice, scheduledAt=due.isoformat())
        assert (body["status"], body["expiresAt"]) == ("scheduled", None)


def _contacts(n: int) -> list[dict]:
    return [{"phone": valid_phone(i)} for i in range(n)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "hi", "contacts": _contacts(1)}, "name"),
        (
            {"name": "x", "message": "hi", "contacts": [*_contacts(1), {"phone": "12345"}]},
            "contacts[1].phone",
        ),
        (
            {"name": "x", "message": {"contentSid": "HX123"}, "contacts": _contacts(1)},
            "message.contentSid",
        ),
        (
            {
                "name": "x",
                "message": "hi",
                "contacts": _contacts(1),
                "scheduledAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            },
            "scheduledAt",
        ),
        (
            {
                "name": "x",
                "message": "hi",
                "contacts": _contacts(1),
                "scheduledAt": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
                "expiresAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            },
            "expiresAt",
        ),
        ({"name": "x", "message": "hi", "contacts": ["ct_unknown"]}, "contacts[0]"),
        ({"name": "x", "message": "hi", "contacts": []}, "contacts"),
        (
            {"name": "x", "message": "hi", "contacts": _contacts(1), "priority": "urgent"},
            "priority",
        ),
        (
            {
                "name": "x",
                "message": {"contentSid": SID, "contentVariables": {"1": "v" * 1601}},
                "contacts": _contacts(1),
            },
            "message.contentVariables.1",
        ),
        (
            {
                "name": "x",
                "message": {
                    "contentSid": SID,
                    "contentVariables": {str(i): "v" for i in range(101)},
                },
                "contacts": _contacts(1),
            },
            "message.contentVariables",
        ),
        (
            {"name": "x", "message": {"body": "hi", "contentSid": SID}, "contacts": _contacts(1)},
            "message",
        ),
        (
            {
                "name": "x",
                "message": "hi",
                "contacts": _contacts(1),
                "fromNumber": "+14155238886",
                "messagingServiceSid": "MG" + "a" * 32,
            },
            "messagingServiceSid",
        ),
        (
            {
                "name": "x",
                "message": "hi",
                "contacts": _contacts(1),
                "messagingServiceSid": "MG" + "b" * 32,
            },
            "messagingServiceSid",
        ),
        (
            {
                "name": "x",
                "message": "hi",
                "contacts": _contacts(1),
                "sendWindow": {"start": "9:00", "end": "20:00"},
            },
            "sendWindow.start",
        ),
        (
            {
                "name": "x",
                "message": "hi",
                "contacts": _contacts(1),
                "sendWindow": {"start": "09:00", "end": "20:00", "timezone": "Mars/Base"},
            },
            "sendWindow",
        ),
    ],
)
async def test_malformed_body_is_422_naming_the_field(api: Api, body: dict, field: str) -> None:
    response = await api.alice.post("/api/campaigns", json=body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["field"] == field
    # In words for people: the field as a person names it, items counted from 1, none
    # of pydantic's phrasing; the path stays in `field` and `detail` for programs.
    assert answer["message"] == answer["detail"][0]["text"]
    assert answer["message"][:1].isupper()
    assert not re.search(r"\[\d+\]|[a-z]\.[a-z]|should", answer["message"]), answer["message"]
    assert answer["detail"] and answer["detail"][0]["loc"][0] == "body"
    listed = (await api.alice.get("/api/campaigns")).json()
    assert listed["total"] == 0
