"""The dashboard's per-user summary: cached briefly, dropped by a change through the api,
in every worker (two apps on one Redis stand for two worker processes here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis

from services.api.dashboard import DashboardService
from services.api.settings import ApiSettings
from tests.api.conftest import API_TOKENS, Api, create_campaign, serving

DASHBOARD = "/api/dashboard/campaign-queue-metrics"


@pytest_asyncio.fixture
async def two_workers(make_settings, redis: Redis) -> AsyncIterator[tuple[Api, Api]]:
    # Long enough that only the invalidation can show a change within the test.
    settings = make_settings(ApiSettings, api_tokens=API_TOKENS, batch_size=2, dashboard_cache_s=60)
    async with serving(settings, redis) as first, serving(settings, redis) as second:
        yield first, second


async def _queue(api: Api) -> dict:
    answer = await api.alice.get(DASHBOARD)
    assert answer.status_code == 200, answer.text
    return answer.json()["metrics"]["campaignQueue"]


async def test_a_summary_is_reused_until_a_change_through_the_api(
    two_workers: tuple[Api, Api],
) -> None:
    first, second = two_workers
    campaign = await create_campaign(first.alice)
    assert (await _queue(first))["draft"] == 1
    assert (await _queue(second))["draft"] == 1

    # Written behind the api's back (as the dispatcher would): the cached summary stays.
    store = first.campaigns
    assert (await store.transition(campaign["id"], ("draft",), "scheduled"))[0]
    assert (await _queue(first))["draft"] == 1
    assert (await store.transition(campaign["id"], ("scheduled",), "draft"))[0]

    # Started through the first worker: both show it at once.
    assert (await first.alice.post(f"/api/campaigns/{campaign['id']}/start")).status_code == 200
    for api in (first, second):
        assert ((await _queue(api))["draft"], (await _queue(api))["waiting"]) == (0, 1)

    # Paused through the second, resumed and stopped through the first.
    assert (await second.alice.post(f"/api/campaigns/{campaign['id']}/queue-pause")).is_success
    for api in (first, second):
        assert ((await _queue(api))["waiting"], (await _queue(api))["paused"]) == (0, 1)
    assert (await first.alice.post(f"/api/campaigns/{campaign['id']}/queue-resume")).is_success
    for api in (first, second):
        assert ((await _queue(api))["paused"], (await _queue(api))["active"]) == (0, 1)
    assert (await first.alice.post(f"/api/campaigns/{campaign['id']}/queue-stop")).is_success
    for api in (first, second):
        assert ((await _queue(api))["active"], (await _queue(api))["stopped"]) == (0, 1)

    # A new campaign shows at once too, and each user has a summary of their own.
    await create_campaign(second.alice)
    assert (await _queue(first))["draft"] == 1
    await create_campaign(first.bob)
    assert (await first.bob.get(DASHBOARD)).json()["metrics"]["campaignQueue"]["draft"] == 1


async def test_concurrent_requests_share_one_summary(
    two_workers: tuple[Api, Api], monkeypatch
) -> None:
    first, _ = two_workers
    await create_campaign(first.alice)
    computed = 0
    compute = DashboardService._compute

    async def counting(self: DashboardService, user: object) -> object:
        nonlocal computed
        computed += 1
        return await compute(self, user)  # type: ignore[arg-type]

    monkeypatch.setattr(DashboardService, "_compute", counting)
    answers = await asyncio.gather(*(first.alice.get(DASHBOARD) for _ in range(10)))
    assert {answer.status_code for answer in answers} == {200}
    assert computed == 1
