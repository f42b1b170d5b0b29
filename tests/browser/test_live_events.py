"""The dashboard's event stream (services/api/routes/live.py) and its static files,
without a browser: the generator alone, the in-process api, and a real api process."""

from __future__ import annotations

import time

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from services.api.queue_status import queue_status
from services.api.routes import live
from services.api.schemas.queue_status import CampaignQueueStatusPublic
from shared.events.models import TextContent
from shared.store.campaigns import CampaignRecord
from tests.api.conftest import create_campaign
from tests.e2e.conftest import TOKEN


def status_of(state: str, processed: int, total: int = 10) -> CampaignQueueStatusPublic:
    record = CampaignRecord(id="c1", status=state, content=TextContent(body="hi"), total=total)
    base = queue_status(record, None, 0)
    progress = base.progress.model_copy(update={"processed": processed, "total": total})
    account = base.account.model_copy(update={"processed": processed, "waiting": total - processed})
    return base.model_copy(update={"progress": progress, "account": account, "total_jobs": 1})


async def collect(events, limit: int = 50) -> list[bytes]:
    chunks = []
    async for chunk in events:
        chunks.append(chunk)
        if len(chunks) >= limit:
            break
    return chunks


def status_events(chunks: list[bytes]) -> list[bytes]:
    return [chunk for chunk in chunks if chunk.startswith(b"event: status")]


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "POLL_INTERVAL_S", 0.001)
    monkeypatch.setattr(live, "HEARTBEAT_S", 0.02)
    monkeypatch.setattr(live, "FINAL_SETTLE_S", 0.05)
    # The rate moves with the clock; here only the counts should make news.
    monkeypatch.setattr(live.RateWindow, "per_second", lambda _self: 0.0)


async def test_an_event_only_when_the_status_changes_and_a_heartbeat_between(fast) -> None:
    reads = iter([status_of("sending", 1)] * 3 + [status_of("sending", 2)] * 40)
    finished = status_of("completed", 10)

    async def read() -> CampaignQueueStatusPublic:
        return next(reads, finished)

    chunks = await collect(live.status_events(status_of("sending", 1), read, 20), limit=1_000)
    assert chunks[0] == b"retry: 1000\n\n"
    events = status_events(chunks)
    assert b'"processed":1' in events[0] and b'"rateLimitPerSecond":20' in events[0]
    assert b'"processed":2' in events[1]
    assert b'"status":"completed"' in events[-1]
    assert len(events) == 3
    assert b": heartbeat\n\n" in chunks


async def test_a_finished_campaign_ends_the_stream_once_its_counts_settle(fast) -> None:
    stopped = status_of("stopped", 4)

    async def read() -> CampaignQueueStatusPublic:
        return stopped

    started = time.monotonic()
    chunks = await collect(live.status_events(stopped, read, 20))
    assert len(status_events(chunks)) == 1
    assert time.monotonic() - started < 5


async def test_the_stream_ends_when_the_server_stops(fast) -> None:
    sending = status_of("sending", 4)
    stopping = iter([False, False, True])

    async def read() -> CampaignQueueStatusPublic:
        return sending

    chunks = await collect(live.status_events(sending, read, 20, lambda: next(stopping)))
    assert len(status_events(chunks)) == 1


async def test_redis_going_away_ends_the_stream_for_the_page_to_reconnect(fast) -> None:
    async def read() -> CampaignQueueStatusPublic:
        raise RedisConnectionError("gone")

    chunks = await collect(live.status_events(status_of("sending", 4), read, 20))
    assert len(status_events(chunks)) == 1


def test_rate_window_counts_the_trailing_seconds() -> None:
    window = live.RateWindow(5)
    for second, processed in enumerate([0, 10, 20, 30, 40, 50, 60, 60, 60, 60, 60, 60]):
        window.add(float(second), processed)
        if second == 5:
            assert window.per_second() == 10.0
    assert window.per_second() == 0.0


def test_error_kinds_from_the_shared_table() -> None:
    assert live.error_kinds({"21211": 2, "20429": 1, "99999": 1, "timeout": 1}) == {
        "21211": "permanent",
        "20429": "retryable",
        "99999": None,
        "timeout": None,
    }


async def test_events_need_a_token_and_the_owner(api) -> None:
    campaign = await create_campaign(api.alice)
    path = f"/api/campaigns/{campaign['id']}/events"
    anonymous = await api.anonymous.get(path)
    assert anonymous.status_code == 401 and anonymous.json()["message"]
    assert (await api.bob.get(path)).status_code == 404
    missing = await api.alice.get("/api/campaigns/no-such-campaign/events")
    assert missing.status_code == 404
    assert missing.json()["message"] == "campaign no-such-campaign not found"


async def test_a_stopped_campaign_streams_its_status_once_and_ends(api) -> None:
    campaign = await create_campaign(api.alice)
    assert (await api.alice.post(f"/api/campaigns/{campaign['id']}/queue-stop")).is_success
    response = await api.alice.get(f"/api/campaigns/{campaign['id']}/events")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    events = [block for block in response.text.split("\n\n") if block.startswith("event:")]
    assert len(events) == 1
    assert '"status":"stopped"' in events[0]


async def test_the_page_and_its_assets_are_served(api) -> None:
    page = await api.anonymous.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/static/js/main.js">' in page.text
    script = await api.anonymous.get("/static/js/main.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for outside in ("/static/%2E%2E/routes/web.py", "/static/..%2Froutes%2Fweb.py"):
        assert (await api.anonymous.get(outside)).status_code == 404
    assert (await api.anonymous.get("/static/nothing.js")).status_code == 404
    schema = (await api.anonymous.get("/openapi.json")).json()
    assert "/" not in schema["paths"]
    # The stream is documented as what it is, not as JSON.
    events = schema["paths"]["/api/campaigns/{campaign_id}/events"]["get"]["responses"]["200"]
    assert list(events["content"]) == ["text/event-stream"]
    assert "event: status" in events["content"]["text/event-stream"]["example"]


def test_an_open_stream_does_not_hold_the_api_when_it_stops(make_system) -> None:
    """uvicorn waits for open responses before it stops; the stream sees that and ends."""
    system = make_system()
    with system.client() as client:
        campaign = client.post(
            "/api/campaigns",
            json={"name": "held", "message": "hi", "contacts": [{"phone": "+34610001000"}]},
        ).json()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{system.api_url}/api/campaigns/{campaign['id']}/events"
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: status"
        started = time.monotonic()
        system.table.stop("api")
        stopped_in = time.monotonic() - started
        # The stream ends cleanly: the rest reads to its end without an error.
        assert not [line for line in lines if line.startswith("event:")]
    assert stopped_in < 5, f"the api took {stopped_in:.1f} s to stop"
