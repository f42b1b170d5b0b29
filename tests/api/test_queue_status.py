"""queue-status from the progress view the metrics service folds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import orjson

from services.api import campaigns as campaigns_module
from services.api.queue_status import is_running, queue_status
from services.api.schemas.queue_status import CampaignQueueStatusPublic, QueueStatusPublic
from services.api.senders import breaker_verdict, live_breakers
from shared.events.models import TextContent
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord
from shared.store.funnel import FunnelStore
from shared.store.holding import HoldingStore
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
    # Processed: a send outcome; the skipped and the cancelled contact are beside it.
    assert status["progress"] == {
        "processed": 3,
        "total": 7,
        "success": 2,
        "failed": 1,
        "percentage": round(300 / 7, 2),
    }
    metrics = status["metrics"]
    assert (metrics["skipped"], metrics["cancelled"]) == (1, 1)
    assert metrics["errorsByCode"] == {"63016": 1}
    assert metrics["successRate"] == 66.67
    account = status["account"]
    assert account["summary"] == "2 sent · 1 failed · 1 skipped · 1 cancelled · 2 waiting"
    assert (account["processed"], account["waiting"], account["successRate"]) == (3, 2, 66.67)
    assert account["failures"] == [
        {
            "code": 63016,
            "stage": "at_send",
            "count": 1,
            "meaning": metrics["failureReasons"][0]["meaning"],
        }
    ]
    assert metrics["startedAt"] is not None and metrics["finishedAt"] is None
    assert metrics["processingTimeMs"] > 0

    assert (await api.bob.get(f"/api/campaigns/{campaign_id}/queue-status")).status_code == 404


async def test_a_campaign_started_straight_from_kafka_is_visible_to_admins_only(api: Api) -> None:
    keys = Keys(api.settings.redis_key_prefix)
    # What the dispatcher writes for a CampaignStarted with no owner, no api involved.
    await api.campaigns.create(
        CampaignRecord(id="external-1", status="sending", content=TextContent(body="hi"), total=2)
    )
    progress = ProgressStore(api.redis, keys)
    await progress.begin("external-1", 2, 500, 1_000)
    await progress.record_emitted("external-1", 1, 2)
    await progress.fold("external-1", ["ext-0"], "sent", 0, None, 2_000)
    await progress.fold("external-1", ["ext-1"], "sent", 0, None, 3_000)
    for client in (api.alice, api.bob):
        assert (await client.get("/api/campaigns/external-1/queue-status")).status_code == 404
    for client in (api.admin,):
        status = (await client.get("/api/campaigns/external-1/queue-status")).json()["status"]
        assert status["progress"]["processed"] == status["progress"]["total"] == 2
        assert status["progress"]["percentage"] == 100
        assert status["completedJobs"] == status["totalJobs"] == 1
        assert status["metrics"]["processingTimeMs"] == 2_000
        assert status["metrics"]["messagesPerSecond"] == 1.0


async def _sequential_queue_status(
    api: Api, campaign_id: str, now_ms: int
) -> CampaignQueueStatusPublic:
    """queue-status as it was read before the pipeline: one store call after another."""
    keys = Keys(api.settings.redis_key_prefix)
    record = await api.campaigns.get(campaign_id)
    assert record is not None
    progress = await ProgressStore(api.redis, keys).read(campaign_id)
    held = await HoldingStore(api.redis, keys).counts(campaign_id)
    funnel = await FunnelStore(api.redis, keys).read(campaign_id)
    retryable = await api.redis.scard(keys("progress", campaign_id, "retryable"))
    status = queue_status(record, progress, now_ms, dict(held), funnel, retryable)
    if is_running(record, progress):
        breakers = await live_breakers(api.redis, keys, api.settings.worker_heartbeat_timeout_s)
        status = status.model_copy(update={"circuit_breaker": breaker_verdict(breakers.values())})
    return status


async def test_queue_status_is_one_round_trip_with_the_same_answer(api: Api, monkeypatch) -> None:
    keys = Keys(api.settings.redis_key_prefix)
    campaign = await create_campaign(
        api.alice, contacts=[{"phone": valid_phone(i)} for i in range(5)]
    )
    campaign_id = campaign["id"]
    draft_id = (await create_campaign(api.alice))["id"]
    assert (await api.alice.post(f"/api/campaigns/{campaign_id}/start")).status_code == 200

    progress = ProgressStore(api.redis, keys)
    await progress.begin(campaign_id, 5, 2, 1_000)
    await progress.record_emitted(campaign_id, 2, 4)
    await progress.fold(campaign_id, ["inline-0"], "sent", 0, None, 2_000)
    await progress.fold(campaign_id, ["inline-1"], "failed", 0, 63016, 2_500)
    await progress.fold(campaign_id, ["inline-2"], "skipped", 1, None, 2_600, False, "opted_out")
    await api.redis.zadd(keys("held", campaign_id, "window"), {"a": 1, "b": 2})
    await api.redis.zadd(keys("held", campaign_id, "tier"), {"c": 3})
    funnels = FunnelStore(api.redis, keys)
    await funnels.fold(campaign_id, "SM1", "read", None, 600)
    await funnels.fold(campaign_id, "SM2", "undelivered", 30003, 600)
    await api.redis.hset(
        keys("workers", "sender"),
        mapping={"sender-0": orjson.dumps({"atMs": int(time.time() * 1000), "breaker": "open"})},
    )
    now = datetime.now(UTC)
    monkeypatch.setattr(campaigns_module, "_now", lambda: now)

    # Count what reaches Redis from this test's task (the alert monitor has its own).
    redis = api.app.state.connections.redis
    this_task = asyncio.current_task()
    round_trips: list[str] = []
    execute_command, pipeline = redis.execute_command, redis.pipeline

    async def counted_command(*args: object, **kwargs: object) -> object:
        if asyncio.current_task() is this_task:
            round_trips.append(str(args[0]))
        return await execute_command(*args, **kwargs)

    def counted_pipeline(*args: object, **kwargs: object) -> object:
        pipe = pipeline(*args, **kwargs)
        execute = pipe.execute

        async def counted_execute(*a: object, **kw: object) -> object:
            if asyncio.current_task() is this_task:
                round_trips.append(f"pipeline of {len(pipe)}")
            return await execute(*a, **kw)

        pipe.execute = counted_execute
        return pipe

    monkeypatch.setattr(redis, "execute_command", counted_command)
    monkeypatch.setattr(redis, "pipeline", counted_pipeline)
    now_ms = int(now.timestamp() * 1000)
    for shown in (campaign_id, draft_id):
        round_trips.clear()
        response = await api.alice.get(f"/api/campaigns/{shown}/queue-status")
        assert response.status_code == 200, response.text
        assert len(round_trips) == 1 and round_trips[0].startswith("pipeline"), round_trips
        round_trips.clear()
        expected = QueueStatusPublic(status=await _sequential_queue_status(api, shown, now_ms))
        assert response.json() == expected.model_dump(mode="json", by_alias=True)
    status = response.json()["status"]
    assert status["circuitBreaker"] is None  # the draft is not running

    running = (await api.alice.get(f"/api/campaigns/{campaign_id}/queue-status")).json()
    assert running["status"]["circuitBreaker"] == "open"
    assert running["status"]["metrics"]["waiting"] == {"sendWindow": 2, "tier": 1}
    assert running["status"]["funnel"]["delivered"] == 1
    assert running["status"]["metrics"]["skippedByReason"] == {"opted_out": 1}
    assert (await api.bob.get(f"/api/campaigns/{campaign_id}/queue-status")).status_code == 404
    assert (await api.alice.get("/api/campaigns/nothing/queue-status")).status_code == 404


async def test_queue_status_reads_the_record_again_only_when_its_status_moved(
    api: Api, monkeypatch
) -> None:
    campaign = await create_campaign(api.alice)
    url = f"/api/campaigns/{campaign['id']}/queue-status"
    store = api.app.state.campaign_store
    reads: list[str] = []
    get_versioned = store.get_versioned

    async def counted(campaign_id: str):  # type: ignore[no-untyped-def]
        reads.append(campaign_id)
        return await get_versioned(campaign_id)

    monkeypatch.setattr(store, "get_versioned", counted)
    statuses = [(await api.alice.get(url)).json()["status"]["status"] for _ in range(3)]
    assert statuses == ["draft"] * 3 and len(reads) <= 1  # read once, or kept from before
    reads.clear()
    assert (await api.alice.post(f"/api/campaigns/{campaign['id']}/start")).status_code == 200
    after = [(await api.alice.get(url)).json()["status"]["status"] for _ in range(2)]
    assert after == ["queued"] * 2 and reads == [campaign["id"]]
    # Another tenant's campaign is not found, kept or not.
    assert (await api.bob.get(url)).status_code == 404
