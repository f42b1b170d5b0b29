"""Roles: what a marketer and an admin may do with opt-outs, ownerless campaigns, the
dashboard, tokens and metrics; expired and revoked tokens stop working."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from services.api.auth import TokenRegistry, User
from services.api.settings import ApiSettings, parse_api_tokens
from shared.events.models import TextContent
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord
from shared.store.progress import ProgressStore
from shared.store.suppressions import SuppressionStore
from tests.api.conftest import ADMIN_TOKEN, API_TOKENS, Api, create_campaign, serving, valid_phone
from tests.api.test_webhooks import INBOUND, inbound_params, post_signed


def suppression_store(api: Api) -> SuppressionStore:
    return api.suppressions


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Opt-outs


async def test_marketers_add_and_look_up_only_admins_list_and_delete(api: Api) -> None:
    phone = valid_phone(1)
    assert (await api.alice.post("/api/suppressions", json={"phone": phone})).status_code == 201
    assert (await api.bob.get(f"/api/suppressions/{phone}")).json()["reason"] == "api"

    for request in (
        api.alice.get("/api/suppressions"),
        api.alice.delete(f"/api/suppressions/{phone}"),
        api.bob.get("/api/suppressions/audit"),
    ):
        refused = await request
        assert refused.status_code == 403
        assert refused.json()["message"] == "admin role required"
    assert await suppression_store(api).suppressed_among([phone]) == {phone}

    listed = (await api.admin.get("/api/suppressions")).json()
    assert [entry["phone"] for entry in listed["suppressions"]] == [phone]
    assert (await api.admin.delete(f"/api/suppressions/{phone}")).status_code == 204
    assert await suppression_store(api).suppressed_among([phone]) == set()


async def test_nobody_lifts_a_recipients_stop_through_the_api(api: Api) -> None:
    phone = valid_phone(2)
    stop = await post_signed(api.anonymous, INBOUND, inbound_params(phone, "STOP"))
    assert stop.status_code == 200

    refused = await api.admin.delete(f"/api/suppressions/{phone}")
    assert refused.status_code == 409
    assert "START" in refused.json()["message"] and "inbound_stop" in refused.json()["message"]
    assert (await api.alice.delete(f"/api/suppressions/{phone}")).status_code == 403
    entry = await suppression_store(api).get(phone)
    assert entry is not None and entry.reason == "inbound_stop"


async def test_start_lifts_only_the_recipients_own_stop(api: Api) -> None:
    store = suppression_store(api)
    by_operator, by_twilio, by_recipient = valid_phone(3), valid_phone(4), valid_phone(5)
    assert (await api.alice.post("/api/suppressions", json={"phone": by_operator})).is_success
    await store.add(by_twilio, "error_21610")
    await post_signed(api.anonymous, INBOUND, inbound_params(by_recipient, "STOP"))
    everyone = [by_operator, by_twilio, by_recipient]
    assert await store.suppressed_among(everyone) == set(everyone)

    for phone in everyone:
        answer = await post_signed(api.anonymous, INBOUND, inbound_params(phone, "START"))
        assert answer.status_code == 200

    assert await store.suppressed_among(everyone) == {by_operator, by_twilio}
    assert (await store.get(by_operator)).reason == "api"
    assert (await store.get(by_twilio)).reason == "error_21610"


async def test_every_change_is_in_the_audit_trail(api: Api) -> None:
    store = suppression_store(api)
    operator, recipient, twilio = valid_phone(6), valid_phone(7), valid_phone(8)
    await api.alice.post("/api/suppressions", json={"phone": operator})
    await api.bob.post("/api/suppressions", json={"phone": operator})  # no change: not audited
    await post_signed(api.anonymous, INBOUND, inbound_params(recipient, "STOP"))
    await store.add(twilio, "error_21610")
    await post_signed(api.anonymous, INBOUND, inbound_params(recipient, "START"))
    assert (await api.admin.delete(f"/api/suppressions/{operator}")).status_code == 204

    first = (await api.admin.get("/api/suppressions/audit", params={"limit": 3})).json()
    second = (await api.admin.get("/api/suppressions/audit", params={"limit": 3, "page": 2})).json()
    assert first["total"] == second["total"] == 5
    entries = first["entries"] + second["entries"]
    assert [(e["action"], e["phone"], e["reason"], e["actor"]) for e in entries] == [
        ("removed", operator, "api", "root"),
        ("removed", recipient, "inbound_stop", "recipient"),
        ("added", twilio, "error_21610", "twilio"),
        ("added", recipient, "inbound_stop", "recipient"),
        ("added", operator, "api", "alice"),
    ]
    assert all(e["at"] for e in entries)
    bad = await api.admin.get("/api/suppressions/audit", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["field"] == "limit"


# Campaigns without an owner


async def test_an_ownerless_campaign_is_for_admins_only(api: Api) -> None:
    keys = Keys(api.settings.redis_key_prefix)
    await api.campaigns.create(
        CampaignRecord(id="no-owner-1", status="sending", content=TextContent(body="hi"), total=2)
    )
    await ProgressStore(api.redis, keys).begin("no-owner-1", 2, 500, 1_000)
    for client in (api.alice, api.bob):
        assert (await client.get("/api/campaigns/no-owner-1")).status_code == 404
        assert (await client.get("/api/campaigns/no-owner-1/queue-status")).status_code == 404
        assert (await client.post("/api/campaigns/no-owner-1/queue-pause")).status_code == 404
    seen = await api.admin.get("/api/campaigns/no-owner-1")
    assert seen.status_code == 200 and seen.json()["id"] == "no-owner-1"
    assert (await api.admin.get("/api/campaigns/no-owner-1/queue-status")).status_code == 200


def test_who_may_see_a_campaign() -> None:
    marketer, admin = User("alice"), User("root", "admin")
    assert marketer.may_see("alice") and not marketer.may_see("bob")
    assert not marketer.may_see(None)
    assert admin.may_see(None) and admin.may_see("root") and not admin.may_see("alice")


# Dashboard


async def test_dashboard_totals_are_the_callers_own(api: Api) -> None:
    keys = Keys(api.settings.redis_key_prefix)

    def contacts(count: int) -> list[dict[str, str]]:
        return [{"phone": valid_phone(i), "name": f"n{i}"} for i in range(count)]

    mine = await create_campaign(api.alice, contacts=contacts(4))
    theirs = await create_campaign(api.bob, contacts=contacts(2))
    for client, campaign in ((api.alice, mine), (api.bob, theirs)):
        assert (await client.post(f"/api/campaigns/{campaign['id']}/start")).status_code == 200
    progress = ProgressStore(api.redis, keys)
    await progress.begin(mine["id"], 4, 2, int(time.time() * 1000))
    await progress.fold(mine["id"], ["c-0"], "sent", 0, None, 5)

    alice = (await api.alice.get("/api/dashboard/campaign-queue-metrics")).json()["metrics"]
    bob = (await api.bob.get("/api/dashboard/campaign-queue-metrics")).json()["metrics"]
    assert alice["processingQueue"]["pendingMessages"] == 3
    assert bob["processingQueue"]["pendingMessages"] == 2
    assert (alice["totals"], bob["totals"]) == ({"sent": 1, "failed": 0}, {"sent": 0, "failed": 0})
    assert alice["campaignQueue"]["waiting"] == bob["campaignQueue"]["waiting"] == 1
    # Each sees their own figures in the original contract's fields, no infrastructure.
    assert (alice["system"]["messagesSent"], bob["system"]["messagesSent"]) == (1, 0)
    assert alice["system"]["kafka"] is None and bob["system"]["kafka"] is None
    assert alice["processingQueue"]["consumerLag"] == {}

    admin = (await api.admin.get("/api/dashboard/campaign-queue-metrics")).json()["metrics"]
    assert admin["processingQueue"]["pendingMessages"] == 0
    assert admin["system"]["kafka"]["connected"] is True


async def test_the_dashboard_cache_is_kept_per_role(make_settings, redis) -> None:
    settings = make_settings(ApiSettings, api_tokens=API_TOKENS, dashboard_cache_s=60)
    async with serving(settings, redis) as api:
        # The same user id with an admin token: a cached marketer view must not leak to it,
        # nor the admin view to the marketer.
        token, _ = await api.app.state.tokens.issue("alice", "admin")
        marketer = (await api.alice.get("/api/dashboard/campaign-queue-metrics")).json()
        admin = (
            await api.anonymous.get("/api/dashboard/campaign-queue-metrics", headers=bearer(token))
        ).json()
        again = (await api.alice.get("/api/dashboard/campaign-queue-metrics")).json()
        for view in (marketer, again):
            assert view["metrics"]["system"]["kafka"] is None
        assert admin["metrics"]["system"]["kafka"] is not None


# Metrics


async def test_metrics_are_served_on_their_own_port_only(make_settings, redis) -> None:
    settings = make_settings(ApiSettings, api_tokens=API_TOKENS, api_metrics_port=0)
    async with serving(settings, redis) as api:
        await create_campaign(api.alice)
        assert (await api.anonymous.get("/metrics")).status_code == 404
        assert (await api.admin.get("/metrics")).status_code == 404
        port = api.app.state.metrics_server.port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as scraper:
            scraped = await scraper.get("/metrics")
            assert scraped.status_code == 200
            assert 'campaign_queue_campaigns{status="draft"}' in scraped.text
            health = await scraper.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"


# Tokens


async def test_expired_and_revoked_tokens_get_401(api: Api) -> None:
    registry: TokenRegistry = api.app.state.tokens
    lasting, record = await registry.issue("carol", expires_in_s=3600)
    assert record.expires_at is not None
    assert (await api.anonymous.get("/api/campaigns", headers=bearer(lasting))).status_code == 200

    # One whose time is up: a row as issue() writes it, expiring a second ago.
    expired = "expired-token-for-carol"
    await api.app.state.connections.database.execute(
        "INSERT INTO api_tokens (digest, user_id, role, created_at, expires_at)"
        " VALUES ($1, 'carol', 'admin', now() - interval '2 seconds', now() - interval '1 second')",
        hashlib.sha256(expired.encode()).hexdigest(),
    )
    assert (await api.anonymous.get("/api/campaigns", headers=bearer(expired))).status_code == 401

    assert (await api.admin.delete(f"/api/tokens/{record.id}")).status_code == 204
    assert (await api.anonymous.get("/api/campaigns", headers=bearer(lasting))).status_code == 401
    assert (await api.admin.delete(f"/api/tokens/{record.id}")).status_code == 404


async def test_admins_list_tokens_without_the_tokens(api: Api) -> None:
    token, record = await api.app.state.tokens.issue("dave", "admin", expires_in_s=86_400)
    assert (await api.alice.get("/api/tokens")).status_code == 403
    assert (await api.alice.delete(f"/api/tokens/{record.id}")).status_code == 403

    listed = await api.admin.get("/api/tokens")
    assert listed.status_code == 200
    for secret in (token, ADMIN_TOKEN, "alice-secret-token"):
        assert secret not in listed.text
    tokens = {t["id"]: t for t in listed.json()["tokens"]}
    dave = tokens[record.id]
    assert (dave["user"], dave["role"], dave["source"], dave["expired"]) == (
        "dave",
        "admin",
        "issued",
        False,
    )
    assert dave["createdAt"] and dave["expiresAt"]
    static = {(t["user"], t["role"]) for t in tokens.values() if t["source"] == "static"}
    assert static == {("alice", "marketer"), ("bob", "marketer"), ("root", "admin")}

    root_id = next(t["id"] for t in tokens.values() if t["user"] == "root")
    refused = await api.admin.delete(f"/api/tokens/{root_id}")
    assert refused.status_code == 409 and "API_TOKENS" in refused.json()["message"]


def test_api_tokens_carry_an_optional_role() -> None:
    assert parse_api_tokens("a:x, b:y:admin ,c:z:marketer") == {
        "x": ("a", "marketer"),
        "y": ("b", "admin"),
        "z": ("c", "marketer"),
    }
    for bad in ("a:x:superuser", "a:x:admin:more", "a::admin", "a"):
        with pytest.raises(ValueError):
            parse_api_tokens(bad)
