"""queue-status and the dashboard show the delivery funnel the metrics service folds."""

from __future__ import annotations

from shared.redis import Keys
from shared.store.funnel import FunnelStore
from shared.store.progress import ProgressStore
from tests.api.conftest import Api, create_campaign

TTL_S = 600


async def test_queue_status_and_dashboard_show_the_cumulative_funnel(api: Api) -> None:
    campaign_id = (await create_campaign(api.alice))["id"]
    empty = (await api.alice.get(f"/api/campaigns/{campaign_id}/queue-status")).json()["status"]
    assert empty["funnel"] == {
        "accepted": 0, "sent": 0, "delivered": 0, "read": 0, "failed": 0, "undelivered": 0
    }  # fmt: skip
    assert empty["funnelErrorsByCode"] == {}
    assert (await api.alice.post(f"/api/campaigns/{campaign_id}/start")).status_code == 200

    keys = Keys(api.settings.redis_key_prefix)
    progress = ProgressStore(api.redis, keys)
    await progress.begin(campaign_id, 3, 2, 1_000)
    for contact in ("inline-0", "inline-1", "inline-2"):
        await progress.fold(campaign_id, [contact], "sent", 0, None, 2_000)
    funnels = FunnelStore(api.redis, keys)
    for sid, status, code in [
        ("SM1", "sent", None),
        ("SM1", "read", None),
        ("SM2", "delivered", None),
        ("SM2", "sent", None),  # late: SM2 stays delivered
        ("SM3", "undelivered", 30007),
    ]:
        await funnels.fold(campaign_id, sid, status, code, TTL_S)

    status = (await api.alice.get(f"/api/campaigns/{campaign_id}/queue-status")).json()["status"]
    assert status["funnel"] == {
        "accepted": 3, "sent": 3, "delivered": 2, "read": 1, "failed": 0, "undelivered": 1
    }  # fmt: skip
    assert status["funnelErrorsByCode"] == {"undelivered": {"30007": 1}}

    dashboard = (await api.alice.get("/api/dashboard/campaign-queue-metrics")).json()["metrics"]
    assert dashboard["funnel"] == status["funnel"]
    # Bob sees only his own campaigns' funnel.
    bob = (await api.bob.get("/api/dashboard/campaign-queue-metrics")).json()["metrics"]
    assert bob["funnel"]["read"] == 0
