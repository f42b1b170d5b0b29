"""Starting a campaign: the answer, the status, and its CampaignStarted on Kafka."""

from __future__ import annotations

import logging
import re
import time

from shared.events.models import CampaignStarted, Recipient, StoredAudience, TextContent
from shared.redis import Keys
from shared.store.progress import ProgressStore
from shared.topics import Topics
from tests.api.conftest import Api, create_campaign, valid_phone
from tests.kafka_io import reading


async def test_start_answers_after_writing_campaign_started(api: Api) -> None:
    campaign = await create_campaign(
        api.alice,
        contacts=[{"phone": valid_phone(0), "name": "Ana"}, {"phone": "(415) 555-2671"}],
    )
    before_ms = int(time.time() * 1000)
    response = await api.alice.post(f"/api/campaigns/{campaign['id']}/start")
    after_ms = int(time.time() * 1000)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"message", "jobId", "estimatedContacts", "estimatedTime", "campaign"}
    match = re.fullmatch(rf"campaign_{re.escape(campaign['id'])}_(\d+)", body["jobId"])
    assert match and before_ms <= int(match.group(1)) <= after_ms
    assert body["estimatedContacts"] == 2
    # 2 contacts at TWILIO_RATE_LIMIT_PER_SECOND=10, nothing else running
    assert body["estimatedTime"] == 200
    assert body["campaign"]["status"] == "queued"
    assert body["campaign"]["jobId"] == body["jobId"]
    stored = (await api.alice.get(f"/api/campaigns/{campaign['id']}")).json()
    assert (stored["status"], stored["jobId"], stored["totalContacts"]) == (
        "queued",
        body["jobId"],
        2,
    )

    async with reading(api.settings, Topics.from_settings(api.settings).campaign_events) as topic:
        events = await topic.until(
            lambda seen: any(isinstance(e, CampaignStarted) for e in seen),
            what="CampaignStarted on campaign.events",
        )
    started = [e for e in events if isinstance(e, CampaignStarted)]
    assert len(started) == 1
    event = started[0]
    assert (event.campaign_id, event.job_id, event.owner_id) == (
        campaign["id"],
        body["jobId"],
        "alice",
    )
    assert event.content == TextContent(body="Hola {{name}}")
    assert isinstance(event.audience, StoredAudience)
    assert event.audience.size == 2
    assert await api.recipients.page(campaign["id"], 0, 10) == [
        Recipient(contact_id="inline-0", phone=valid_phone(0), name="Ana"),
        Recipient(contact_id="inline-1", phone="+14155552671"),
    ]
    assert await api.campaigns.active_ids() == [campaign["id"]]

    again = await api.alice.post(f"/api/campaigns/{campaign['id']}/start")
    assert again.status_code == 409, again.text
    assert again.json()["status"] == "queued"


async def test_estimate_counts_unsent_contacts_of_running_campaigns(api: Api) -> None:
    keys = Keys(api.settings.redis_key_prefix)
    progress = ProgressStore(api.redis, keys)
    running = await create_campaign(
        api.alice, contacts=[{"phone": valid_phone(i)} for i in range(5)]
    )
    done = await create_campaign(api.bob, contacts=[{"phone": valid_phone(i)} for i in range(4)])
    for campaign, client in ((running, api.alice), (done, api.bob)):
        assert (await client.post(f"/api/campaigns/{campaign['id']}/start")).status_code == 200
    # The running one has 2 of 5 done; the other is complete though still "queued".
    await progress.begin(running["id"], 5, 2, 1)
    for contact in ("inline-0", "inline-1"):
        await progress.fold(running["id"], [contact], "sent", 0, None, 2)
    await progress.begin(done["id"], 4, 2, 1)
    for i in range(4):
        await progress.fold(done["id"], [f"inline-{i}"], "sent", i // 2, None, 2)

    third = await create_campaign(api.alice, contacts=[{"phone": valid_phone(9)}])
    response = await api.alice.post(f"/api/campaigns/{third['id']}/start")
    assert response.status_code == 200, response.text
    # Both normal: its 1 contact at half of 10 per second, beside 3 unsent of the other.
    assert response.json()["estimatedTime"] == 200
    active = await api.campaigns.active_ids()
    assert sorted(active) == sorted([running["id"], third["id"]])  # finished one dropped


async def test_start_of_a_foreign_or_unknown_campaign_is_404(api: Api) -> None:
    campaign = await create_campaign(api.alice)
    assert (await api.bob.post(f"/api/campaigns/{campaign['id']}/start")).status_code == 404
    assert (await api.alice.post("/api/campaigns/missing/start")).status_code == 404


async def test_lifecycle_is_logged_with_structured_fields(api: Api, caplog) -> None:
    caplog.set_level(logging.INFO, logger="services.api")
    campaign = await create_campaign(api.alice)
    started = (await api.alice.post(f"/api/campaigns/{campaign['id']}/start")).json()
    records = {r.getMessage(): r for r in caplog.records if r.name.startswith("services.api")}
    created = records["campaign created"]
    assert (created.campaign_id, created.owner_id, created.contacts) == (campaign["id"], "alice", 3)
    start = records["campaign started"]
    assert (start.campaign_id, start.job_id, start.contacts) == (
        campaign["id"],
        started["jobId"],
        3,
    )
