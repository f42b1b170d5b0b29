"""pause / resume / stop: each writes its event and sets the campaign's status."""

from __future__ import annotations

from shared.events.models import CampaignPaused, CampaignResumed, CampaignStopped
from shared.topics import Topics
from tests.api.conftest import Api, create_campaign
from tests.kafka_io import reading


async def test_control_publishes_events_and_sets_status(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    campaign_id = campaign["id"]
    assert (await api.alice.post(f"/api/campaigns/{campaign_id}/start")).status_code == 200

    expected = [
        ("queue-pause", "paused", CampaignPaused),
        ("queue-resume", "sending", CampaignResumed),
        ("queue-stop", "stopped", CampaignStopped),
    ]
    for action, status, _ in expected:
        response = await api.alice.post(f"/api/campaigns/{campaign_id}/{action}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"success", "message", "status"}
        assert (body["success"], body["status"]) == (True, status)
        stored = (await api.alice.get(f"/api/campaigns/{campaign_id}")).json()
        assert stored["status"] == status

    controls = (CampaignPaused, CampaignResumed, CampaignStopped)
    async with reading(api.settings, Topics.from_settings(api.settings).campaign_events) as topic:
        events = await topic.until(
            lambda seen: sum(isinstance(e, controls) for e in seen) >= 3,
            what="three control events",
        )
    control_events = [e for e in events if isinstance(e, controls)]
    assert [type(e) for e in control_events] == [kind for _, _, kind in expected]
    for event in control_events:
        assert (event.campaign_id, event.requested_by) == (campaign_id, "alice")


async def test_control_of_a_foreign_or_unknown_campaign_is_404(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    for action in ("queue-pause", "queue-resume", "queue-stop"):
        foreign = await api.bob.post(f"/api/campaigns/{campaign['id']}/{action}")
        assert foreign.status_code == 404, foreign.text
        missing = await api.alice.post(f"/api/campaigns/unknown/{action}")
        assert missing.status_code == 404
    still = (await api.alice.get(f"/api/campaigns/{campaign['id']}")).json()
    assert still["status"] == "draft"


async def test_illegal_transitions_are_409_and_change_nothing(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    campaign_id = campaign["id"]

    async def act(action: str) -> int:
        return (await api.alice.post(f"/api/campaigns/{campaign_id}/{action}")).status_code

    async def status() -> str:
        return (await api.alice.get(f"/api/campaigns/{campaign_id}")).json()["status"]

    # A draft cannot be paused or resumed.
    assert (await act("queue-pause"), await act("queue-resume")) == (409, 409)
    assert await status() == "draft"
    assert (await api.alice.post(f"/api/campaigns/{campaign_id}/start")).status_code == 200
    assert await act("queue-resume") == 409  # not paused
    assert await act("queue-pause") == 200
    conflict = await api.alice.post(f"/api/campaigns/{campaign_id}/queue-pause")
    assert conflict.status_code == 409
    assert conflict.json()["status"] == "paused"  # the body says what the campaign is
    assert await act("queue-stop") == 200
    assert [await act(a) for a in ("queue-pause", "queue-resume", "queue-stop")] == [409] * 3
    assert await status() == "stopped"


async def test_every_campaign_body_says_what_may_be_done_to_it(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    campaign_id = campaign["id"]
    assert campaign["allowedActions"] == ["start", "stop"]

    async def allowed() -> list[list[str]]:
        """allowedActions of the campaign, its list entry and its queue status."""
        one = (await api.alice.get(f"/api/campaigns/{campaign_id}")).json()
        listing = (await api.alice.get("/api/campaigns")).json()["campaigns"]
        [entry] = [c for c in listing if c["id"] == campaign_id]
        queue = (await api.alice.get(f"/api/campaigns/{campaign_id}/queue-status")).json()
        return [one["allowedActions"], entry["allowedActions"], queue["status"]["allowedActions"]]

    assert await allowed() == [["start", "stop"]] * 3

    started = await api.alice.post(f"/api/campaigns/{campaign_id}/start")
    assert started.status_code == 200, started.text
    assert started.json()["campaign"]["allowedActions"] == ["pause", "stop"]
    assert await allowed() == [["pause", "stop"]] * 3

    assert (await api.alice.post(f"/api/campaigns/{campaign_id}/queue-pause")).status_code == 200
    assert await allowed() == [["resume", "stop"]] * 3

    assert (await api.alice.post(f"/api/campaigns/{campaign_id}/queue-stop")).status_code == 200
    assert await allowed() == [[]] * 3
