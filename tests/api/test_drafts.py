"""Drafts: a campaign edited or deleted before it starts, and any campaign copied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.lifecycle import COMPLETED, NOT_FINAL
from tests.api.conftest import Api, create_campaign, valid_phone


async def _history(api: Api, campaign_id: str) -> list[tuple[str, str | None]]:
    body = (await api.alice.get(f"/api/campaigns/{campaign_id}/status-history")).json()
    return [(change["status"], change["previous"]) for change in body["changes"]]


async def _phones(api: Api, campaign_id: str) -> list[str]:
    return [r.phone for r in await api.recipients.page(campaign_id, 0, 100)]


async def test_a_draft_is_edited_field_by_field(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    url = f"/api/campaigns/{campaign['id']}"
    # Read once, so that queue-status keeps the record: an edit must make it read again.
    assert (await api.alice.get(f"{url}/queue-status")).json()["status"]["progress"]["total"] == 3

    response = await api.alice.patch(
        url, json={"name": " autumn sale ", "message": "Hi {{name}}!", "priority": "high"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["message"], body["priority"]) == (
        "autumn sale",
        "Hi {{name}}!",
        "high",
    )
    assert (body["status"], body["totalContacts"]) == ("draft", 3)
    assert (await api.alice.get(url)).json() == body
    assert await _history(api, campaign["id"]) == [("draft", None)]

    replaced = await api.alice.patch(
        url, json={"contacts": [{"phone": valid_phone(50), "name": "Zoe"}]}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["totalContacts"] == 1
    assert await _phones(api, campaign["id"]) == [valid_phone(50)]
    status = (await api.alice.get(f"{url}/queue-status")).json()["status"]
    assert status["progress"]["total"] == 1


async def test_scheduling_and_unscheduling_are_in_the_history(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    url = f"/api/campaigns/{campaign['id']}"
    due = datetime.now(UTC) + timedelta(hours=2)

    scheduled = await api.alice.patch(url, json={"scheduledAt": due.isoformat()})
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled.json()["scheduledAt"]) == due
    assert await api.campaigns.due_schedules(due + timedelta(seconds=1)) == [campaign["id"]]

    later = due + timedelta(hours=1)
    moved = await api.alice.patch(url, json={"scheduledAt": later.isoformat()})
    assert datetime.fromisoformat(moved.json()["scheduledAt"]) == later
    assert await api.campaigns.due_schedules(due + timedelta(seconds=1)) == []

    unscheduled = await api.alice.patch(url, json={"scheduledAt": None})
    assert (unscheduled.json()["status"], unscheduled.json()["scheduledAt"]) == ("draft", None)
    assert await api.campaigns.due_schedules(later + timedelta(days=1)) == []
    assert await _history(api, campaign["id"]) == [
        ("draft", None),
        ("scheduled", "draft"),
        ("draft", "scheduled"),
    ]


async def test_an_edit_is_checked_as_a_create_is(api: Api) -> None:
    campaign = await create_campaign(
        api.alice, contacts=[{"phone": valid_phone(0), "name": "Ana"}, {"phone": valid_phone(1)}]
    )
    url = f"/api/campaigns/{campaign['id']}"
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases = [
        ({"scheduledAt": past}, "scheduledAt"),
        ({"name": "  "}, "name"),
        ({"nmae": "x"}, "nmae"),
        ({"contacts": [{"phone": "12"}]}, "contacts[0].phone"),
        ({"contacts": [{"phone": valid_phone(3)}], "listId": "x"}, "listId"),
        (
            {"fromNumber": "+14155238886", "messagingServiceSid": "MG" + "0" * 32},
            "messagingServiceSid",
        ),
        # The stored audience lacks {{city}}: refused, as a create would be.
        ({"message": "Hola {{city}}"}, "message"),
        # Leaving contacts out needs the audience given again.
        ({"message": "Hola {{name}}", "missingVars": "skip"}, "missingVars"),
    ]
    for body, field in cases:
        response = await api.alice.patch(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.json())
    assert (await api.alice.get(url)).json() == {**campaign}
    filled_empty = await api.alice.patch(
        url, json={"message": "Hola {{city}}", "missingVars": "empty"}
    )
    assert filled_empty.status_code == 200, filled_empty.text
    assert (await api.bob.patch(url, json={"name": "mine"})).status_code == 404


async def test_a_started_campaign_is_neither_edited_nor_deleted(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    url = f"/api/campaigns/{campaign['id']}"
    assert (await api.alice.post(f"{url}/start")).status_code == 200

    for response in (
        await api.alice.patch(url, json={"name": "too late"}),
        await api.alice.delete(url),
    ):
        assert response.status_code == 409
        body = response.json()
        assert (body["campaignId"], body["status"]) == (campaign["id"], "queued")
        assert "queued" in body["message"]
    assert (await api.alice.get(url)).json()["name"] == "spring sale"


async def test_a_deleted_draft_is_gone_from_everywhere(api: Api) -> None:
    kept = await create_campaign(api.alice, name="kept")
    campaign = await create_campaign(
        api.alice, scheduledAt=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
    )
    url = f"/api/campaigns/{campaign['id']}"
    assert (await api.bob.delete(url)).status_code == 404

    response = await api.alice.delete(url)

    assert response.status_code == 204
    assert response.content == b""
    assert (await api.alice.get(url)).status_code == 404
    assert (await api.alice.get(f"{url}/status-history")).status_code == 404
    listed = (await api.alice.get("/api/campaigns")).json()
    assert [c["id"] for c in listed["campaigns"]] == [kept["id"]]
    assert await api.recipients.size(campaign["id"]) == 0
    assert await api.campaigns.due_schedules(datetime.now(UTC) + timedelta(days=1)) == []
    assert await api.campaigns.status(campaign["id"]) is None
    assert (await api.alice.delete(url)).status_code == 404


async def test_any_campaign_is_cloned_as_a_new_draft(api: Api) -> None:
    campaign = await create_campaign(
        api.alice,
        message="Hola {{name}}",
        priority="high",
        sendWindow={"start": "09:00", "end": "20:00", "timezone": "Europe/Madrid"},
    )
    moved, _ = await api.campaigns.transition(campaign["id"], NOT_FINAL, COMPLETED)
    assert moved

    response = await api.alice.post(f"/api/campaigns/{campaign['id']}/clone")

    assert response.status_code == 201, response.text
    clone = response.json()
    assert clone["id"] != campaign["id"]
    assert (clone["name"], clone["status"]) == ("spring sale (copy)", "draft")
    assert clone["allowedActions"] == ["start", "stop"]
    for field in ("message", "priority", "sendWindow", "totalContacts", "fromNumber"):
        assert clone[field] == campaign[field], field
    assert await _phones(api, clone["id"]) == await _phones(api, campaign["id"])
    assert await _history(api, clone["id"]) == [("draft", None)]
    assert (await api.alice.get(f"/api/campaigns/{campaign['id']}")).json()["status"] == "completed"
    listed = [c["id"] for c in (await api.alice.get("/api/campaigns")).json()["campaigns"]]
    assert clone["id"] in listed
    assert (await api.bob.post(f"/api/campaigns/{campaign['id']}/clone")).status_code == 404

    again = (await api.alice.post(f"/api/campaigns/{clone['id']}/clone")).json()
    assert again["name"] == "spring sale (copy) (copy)"
    long = await create_campaign(api.alice, name="x" * 200)
    cut = (await api.alice.post(f"/api/campaigns/{long['id']}/clone")).json()
    assert cut["name"] == "x" * 193 + " (copy)"
