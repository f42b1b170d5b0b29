"""Clean-up as the original queue did it: a finished campaign's keys expire on schedule;
what PostgreSQL keeps is kept as long as it should be."""

from __future__ import annotations

import asyncio

import asyncpg
from redis.asyncio import Redis

from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    invalid_phone,
    start,
    valid_phone,
    wait_finished,
)

DAY_S = 24 * 3600
WEEK_S = 7 * DAY_S


async def _ttls(redis_url: str, prefix: str, campaign_id: str) -> dict[str, int]:
    redis = Redis.from_url(redis_url)
    try:
        keys = {
            "progress": f"{prefix}progress:{campaign_id}",
            "errors": f"{prefix}progress:{campaign_id}:errors",
            "outcomes": f"{prefix}progress:{campaign_id}:outcomes",
            "batches": f"{prefix}progress:{campaign_id}:batches",
            "rate series": f"{prefix}rate:{campaign_id}:sends",
            "ledger": f"{prefix}ledger:{campaign_id}",
            "status copy": f"{prefix}campaign:{campaign_id}:status",
        }
        ttls = {name: await redis.ttl(key) for name, key in keys.items()}
        newest_job = await redis.lindex(f"{prefix}jobs:completed", 0)
        ttls["newest job is this run"] = int(
            newest_job is not None and campaign_id.encode() in newest_job
        )
        return ttls
    finally:
        await redis.aclose()


def test_a_finished_campaigns_keys_carry_the_documented_ttls(make_system, sandbox_admin):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    with system.client() as client:
        campaign = create_campaign(client, "kept a while", [valid_phone(1), invalid_phone(1)])
        start(client, campaign["id"])
        wait_finished(client, campaign["id"], timeout_s=60)
    ttls = asyncio.run(
        _ttls(system.env["REDIS_URL"], system.env["REDIS_KEY_PREFIX"], campaign["id"])
    )

    def about(seconds: int) -> range:
        return range(seconds - 120, seconds + 1)

    assert ttls["progress"] in about(DAY_S) and ttls["errors"] in about(DAY_S), ttls
    # Its chart of sends per second goes with its progress.
    assert ttls["rate series"] in about(DAY_S), ttls
    for name in ("outcomes", "batches", "ledger"):
        assert ttls[name] in about(WEEK_S), (name, ttls)
    # The copy of its final status, which the senders read, goes with its commands.
    assert ttls["status copy"] in about(WEEK_S), ttls
    assert ttls["newest job is this run"] == 1  # its job record, among the kept ones
    # Its recipients, in PostgreSQL, are kept as long as its results, then purged.
    kept_s, definitions = asyncio.run(
        _recipients_kept_s(system.env["DATABASE_URL"], campaign["id"])
    )
    assert kept_s in about(WEEK_S), kept_s
    assert definitions == 1  # the campaign itself is the user's: never expires


async def _recipients_kept_s(database_url: str, campaign_id: str) -> tuple[int, int]:
    """How long the campaign's recipients are kept, and how many rows define it."""
    connection = await asyncpg.connect(database_url)
    try:
        kept_s = await connection.fetchval(
            "SELECT extract(epoch FROM purge_after - now()) FROM campaign_audiences"
            " WHERE campaign_id = $1",
            campaign_id,
        )
        definitions = await connection.fetchval(
            "SELECT count(*) FROM campaigns WHERE id = $1 AND finished_at IS NOT NULL",
            campaign_id,
        )
        return int(kept_s), int(definitions)
    finally:
        await connection.close()
