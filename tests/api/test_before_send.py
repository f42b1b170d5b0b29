"""Before sending: previews of a campaign and of a create body, and test sends queued
on message.commands without touching the campaign."""

from __future__ import annotations

from shared.events.models import SendMessage, SendMessageBatch
from shared.topics import Topics
from tests.api.conftest import Api, create_campaign, valid_phone
from tests.kafka_io import reading

TEMPLATE_SID = "HX" + "a" * 32


async def test_preview_shows_the_first_messages_and_what_recipients_lack(api: Api) -> None:
    contacts = [
        {"phone": valid_phone(0), "name": "Ana", "vars": {"code": "A1"}},
        {"phone": valid_phone(1), "vars": {"code": "B2"}},
        {"phone": valid_phone(2), "name": "Eva"},
    ]
    campaign = await create_campaign(
        api.alice, message="Hola {{name}}, code {{code}}", contacts=contacts
    )

    response = await api.alice.post(f"/api/campaigns/{campaign['id']}/preview", json={"limit": 2})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["campaignId"] == campaign["id"]
    assert body["totalRecipients"] == 3
    assert [(m["position"], m["phone"], m["name"], m["text"]) for m in body["messages"]] == [
        (0, valid_phone(0), "Ana", "Hola Ana, code A1"),
        (1, valid_phone(1), None, "Hola , code B2"),
    ]
    assert body["messages"][0]["contentSid"] is None
    assert body["missingVariables"] == [
        {"variable": "name", "count": 1},
        {"variable": "code", "count": 1},
    ] or body["missingVariables"] == [
        {"variable": "code", "count": 1},
        {"variable": "name", "count": 1},
    ]


async def test_preview_without_a_body_shows_five_and_resolves_template_variables(
    api: Api,
) -> None:
    contacts = [{"phone": valid_phone(i), "name": f"n{i}"} for i in range(7)]
    campaign = await create_campaign(
        api.alice,
        message={"contentSid": TEMPLATE_SID, "contentVariables": {"1": "{{name}}", "2": "fixed"}},
        contacts=contacts,
    )

    body = (await api.alice.post(f"/api/campaigns/{campaign['id']}/preview")).json()

    assert len(body["messages"]) == 5
    first = body["messages"][0]
    assert (first["text"], first["contentSid"]) == (None, TEMPLATE_SID)
    assert first["contentVariables"] == {"1": "n0", "2": "fixed"}
    assert body["missingVariables"] == []


async def test_preview_limits_and_ownership(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    url = f"/api/campaigns/{campaign['id']}/preview"
    # As every campaign route: another marketer's campaign, even to an admin, is not found
    # (admins see the campaigns without an owner).
    assert (await api.bob.post(url)).status_code == 404
    assert (await api.admin.post(url)).status_code == 404
    for limit in (0, 51):
        response = await api.alice.post(url, json={"limit": limit})
        assert response.status_code == 422
        assert response.json()["field"] == "limit"
    assert (await api.alice.post("/api/campaigns/nope/preview")).status_code == 404


async def test_a_create_body_is_previewed_without_storing_it(api: Api) -> None:
    before = (await api.alice.get("/api/campaigns")).json()["total"]
    response = await api.alice.post(
        "/api/campaigns/preview",
        json={
            "message": "Hola {{nmae}}",
            "contacts": [{"phone": valid_phone(i), "name": f"n{i}"} for i in range(3)],
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["campaignId"] is None
    assert body["totalRecipients"] == 3
    assert body["missingVariables"] == [{"variable": "nmae", "count": 3}]
    # A text made only of an unknown placeholder is sent unfilled, as the dispatcher does.
    assert body["messages"][0]["text"] == "Hola "
    assert (await api.alice.get("/api/campaigns")).json()["total"] == before


async def test_a_create_body_preview_checks_the_audience_as_create_does(api: Api) -> None:
    no_audience = await api.alice.post("/api/campaigns/preview", json={"message": "hi"})
    assert no_audience.status_code == 422
    assert no_audience.json()["field"] == "contacts"
    bad_phone = await api.alice.post(
        "/api/campaigns/preview", json={"message": "hi", "contacts": [{"phone": "12"}]}
    )
    assert bad_phone.status_code == 422
    assert bad_phone.json()["field"] == "contacts[0].phone"
    foreign_list = await api.alice.post(
        "/api/campaigns/preview", json={"message": "hi", "listId": "not-a-list"}
    )
    assert foreign_list.status_code == 422
    assert foreign_list.json()["field"] == "listId"


async def test_a_list_is_previewed_by_its_id(api: Api) -> None:
    created = await api.alice.post("/api/lists", json={"name": "vip"})
    assert created.status_code == 201, created.text
    list_id = created.json()["id"]
    contacts = await api.alice.post(
        "/api/contacts", json=[{"phone": valid_phone(i), "name": f"v{i}"} for i in range(4)]
    )
    assert contacts.status_code == 201, contacts.text
    ids = [contact["id"] for contact in contacts.json()["contacts"]]
    added = await api.alice.post(f"/api/lists/{list_id}/members", json={"contactIds": ids})
    assert added.status_code == 200, added.text

    body = (
        await api.alice.post(
            "/api/campaigns/preview",
            json={"name": "x", "message": "Hi {{name}} {{city}}", "listId": list_id, "limit": 1},
        )
    ).json()

    assert body["totalRecipients"] == 4
    assert [m["text"] for m in body["messages"]] == ["Hi v0 "]
    assert body["missingVariables"] == [{"variable": "city", "count": 4}]


async def test_a_test_send_is_a_flagged_command_that_leaves_the_campaign_alone(
    api: Api,
) -> None:
    campaign = await create_campaign(
        api.alice,
        message="Hola {{name}}, code {{code}}",
        contacts=[{"phone": valid_phone(0), "name": "Ana", "vars": {"code": "A1"}}],
    )
    campaign_id = campaign["id"]
    status_before = (await api.alice.get(f"/api/campaigns/{campaign_id}/queue-status")).json()
    topic = Topics.from_settings(api.settings).message_commands

    async with reading(api.settings, topic) as commands:
        response = await api.alice.post(
            f"/api/campaigns/{campaign_id}/test-send",
            json={"phones": [valid_phone(100), "+34 611 00 1101"]},
        )
        assert response.status_code == 202, response.text
        body = response.json()
        seen = await commands.until(
            lambda events: len(_test_commands(events)) >= 2, what="two test commands"
        )

    assert body["campaignId"] == campaign_id
    assert [m["phone"] for m in body["messages"]] == [valid_phone(100), "+34611001101"]
    assert {m["text"] for m in body["messages"]} == {"Hola Test, code A1"}
    sent = _test_commands(seen)
    assert {c.contact_id for c in sent} == {m["id"] for m in body["messages"]}
    assert all(c.contact_id.startswith("test-send:") and c.campaign_id == campaign_id for c in sent)
    assert {c.to for c in sent} == {f"whatsapp:{m['phone']}" for m in body["messages"]}
    after = await api.alice.get(f"/api/campaigns/{campaign_id}")
    assert after.json()["status"] == "draft"
    status_after = (await api.alice.get(f"/api/campaigns/{campaign_id}/queue-status")).json()
    assert status_after["status"]["progress"] == status_before["status"]["progress"]


async def test_test_send_numbers_are_checked_one_by_one(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    url = f"/api/campaigns/{campaign['id']}/test-send"

    bad = await api.alice.post(url, json={"phones": [valid_phone(1), "not a phone"]})
    assert bad.status_code == 422
    assert bad.json()["field"] == "phones"
    assert "item 2" in bad.json()["message"]
    for phones in ([], [valid_phone(i) for i in range(6)]):
        response = await api.alice.post(url, json={"phones": phones})
        assert response.status_code == 422
        assert response.json()["field"] == "phones"
    assert (await api.alice.post(url, json={})).status_code == 422
    assert (await api.bob.post(url, json={"phones": [valid_phone(1)]})).status_code == 404

    await api.suppressions.add(valid_phone(7), "STOP", actor="admin")
    opted_out = await api.alice.post(url, json={"phones": [valid_phone(7)]})
    assert opted_out.status_code == 422
    assert "item 1" in opted_out.json()["message"]


def _test_commands(events: list) -> list[SendMessage]:
    commands = []
    for event in events:
        batch = event.commands if isinstance(event, SendMessageBatch) else [event]
        commands.extend(c for c in batch if isinstance(c, SendMessage) and c.test_send)
    return commands
