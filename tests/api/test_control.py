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
