"""queue-status from the progress view the metrics service folds."""

from __future__ import annotations

from shared.events.models import TextContent
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.progress import ProgressStore
from tests.api.conftest import Api, create_campaign, valid_phone


async def test_counts_percentage_and_jobs_come_from_progress(api: Api) -> None:
    campaign = await create_campaign(
        api.alice, contacts=[{"phone": valid_phone(i)} for i in range(7)]
    )
    campaign_id = campaign["id"]
    assert (await api.alice.post(f"/api/campaigns/{campaign_id}/start")).status_code == 200
    before = (await api.alice.get(f"/api/campaigns/{campaign_id}/queue-status")).json()
    assert before["status"]["totalJobs"] == 0
    assert before["status"]["progress"] == {
        "processed": 0,
        "total": 7,
        "success": 0,
        "failed": 0,
        "percentage": 0,
    }

    progress = ProgressStore(api.redis, Keys(api.settings.redis_key_prefix))
    # What the dispatcher and metrics would write: 7 contacts in batches of 2 -> 4 jobs.
    await progress.begin(campaign_id, 7, 2, 1_000)
    await progress.record_emitted(campaign_id, 3, 6)
    outcomes = [
        ("inline-0", "sent", 0, None),
        ("inline-1", "failed", 0, 63016),
        ("inline-2", "sent", 1, None),
        ("inline-3", "skipped", 1, None),
        ("inline-4", "cancelled", 2, None),
    ]
    for contact, outcome, batch, code in outcomes:
        await progress.fold(campaign_id, [contact], outcome, batch, code, 3_000)

    response = await api.alice.get(f"/api/campaigns/{campaign_id}/queue-status")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    status = body["status"]
    assert status["campaignId"] == campaign_id
    assert status["status"] == "queued"
    assert (
        status["totalJobs"],
        status["completedJobs"],
        status["activeJobs"],
        status["waitingJobs"],
        status["failedJobs"],
    ) == (4, 2, 1, 1, 0)
    assert status["progress"] == {
        "processed": 5,
        "total": 7,
        "success": 2,
        "failed": 1,
        "percentage": round(500 / 7, 2),
    }
    metrics = status["metrics"]
    assert (metrics["skipped"], metrics["cancelled"]) == (1, 1)
    assert metrics["errorsByCode"] == {"63016": 1}
    assert metrics["successRate"] == 40.0
    assert metrics["startedAt"] is not None and metrics["finishedAt"] is None
    assert metrics["processingTimeMs"] > 0

    assert (await api.bob.get(f"/api/campaigns/{campaign_id}/queue-status")).status_code == 404


async def test_a_campaign_started_straight_from_kafka_is_visible_to_everyone(api: Api) -> None:
    keys = Keys(api.settings.redis_key_prefix)
    # What the dispatcher writes for a CampaignStarted with no owner, no api involved.
    await CampaignStore(api.redis, keys).save(
        CampaignRecord(id="external-1", status="sending", content=TextContent(body="hi"), total=2)
    )
    progress = ProgressStore(api.redis, keys)
    await progress.begin("external-1", 2, 500, 1_000)
    await progress.record_emitted("external-1", 1, 2)
    await progress.fold("external-1", ["ext-0"], "sent", 0, None, 2_000)
    await progress.fold("external-1", ["ext-1"], "sent", 0, None, 3_000)
    for client in (api.alice, api.bob):
        status = (await client.get("/api/campaigns/external-1/queue-status")).json()["status"]
        assert status["progress"]["processed"] == status["progress"]["total"] == 2
        assert status["progress"]["percentage"] == 100
        assert status["completedJobs"] == status["totalJobs"] == 1
        assert status["metrics"]["processingTimeMs"] == 2_000
        assert status["metrics"]["messagesPerSecond"] == 1.0
