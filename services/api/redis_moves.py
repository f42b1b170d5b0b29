"""Records that earlier versions kept in Redis move to PostgreSQL when the api starts.

Tokens and each account's opt-outs (with their audit trail) are a few known keys, read
at every start (a round trip each). Contacts, audiences and campaigns are found by
scanning the keyspace, which costs seconds on a large Redis: each scan runs until it
has once finished, then ``moves_from_redis`` says so and no start runs it again. Each
move is idempotent, so api workers starting together may each run it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg
import orjson
from redis.asyncio import Redis

from services.api.auth import move_tokens_from_redis
from services.api.contacts_store import ContactStore, move_contacts_from_redis
from shared.events.models import SendWindow
from shared.redis import Keys
from shared.store.campaigns import CONTENT, CampaignRecord, CampaignStore
from shared.store.recipients import RecipientStore, move_audiences_from_redis

log = logging.getLogger(__name__)

SCANNED_MOVES = "contacts-and-audiences"
SCANNED_CAMPAIGNS = "campaigns"


async def move_records_from_redis(
    redis: Redis,
    keys: Keys,
    database: asyncpg.Pool,
    contacts: ContactStore,
    recipients: RecipientStore,
    campaigns: CampaignStore,
    account_sid: str,
) -> None:
    tokens = await move_tokens_from_redis(redis, keys, database)
    opt_outs = await move_suppressions_from_redis(redis, keys, database, account_sid)
    done = await database.fetchval("SELECT 1 FROM moves_from_redis WHERE name = $1", SCANNED_MOVES)
    moved_contacts = moved_recipients = 0
    if not done:
        moved_contacts = await move_contacts_from_redis(redis, keys, contacts)
        moved_recipients = await move_audiences_from_redis(redis, keys, recipients)
        await database.execute(
            "INSERT INTO moves_from_redis (name) VALUES ($1) ON CONFLICT DO NOTHING",
            SCANNED_MOVES,
        )
    moved_campaigns = 0
    if not await database.fetchval(
        "SELECT 1 FROM moves_from_redis WHERE name = $1", SCANNED_CAMPAIGNS
    ):
        moved_campaigns = await move_campaigns_from_redis(redis, keys, database, campaigns)
        await database.execute(
            "INSERT INTO moves_from_redis (name) VALUES ($1) ON CONFLICT DO NOTHING",
            SCANNED_CAMPAIGNS,
        )
    if tokens or opt_outs or moved_contacts or moved_recipients or moved_campaigns:
        log.info(
            "records moved from Redis to PostgreSQL",
            extra={
                "tokens": tokens,
                "suppressions": opt_outs,
                "contacts": moved_contacts,
                "recipients": moved_recipients,
                "campaigns": moved_campaigns,
            },
        )


async def move_campaigns_from_redis(
    redis: Redis, keys: Keys, database: asyncpg.Pool, campaigns: CampaignStore
) -> int:
    """Campaign definitions that earlier versions kept in Redis (``campaign:{id}``, a
    hash of text fields; their indexes ``campaigns:owner:{owner}``, ``campaigns:active``
    and ``schedules``) move to PostgreSQL, then leave Redis. A campaign already there
    keeps its row; its Redis hash is only deleted."""
    moved = 0
    prefix = keys("campaign", "")
    active_key, schedules_key = keys("campaigns", "active"), keys("schedules")
    async for raw_key in redis.scan_iter(match=f"{prefix}*", count=1_000, _type="hash"):
        key = raw_key.decode()
        campaign_id = key[len(prefix) :]
        if ":" in campaign_id:
            continue  # another hash under the campaign (a campaign id has no ':')
        raw = await redis.hgetall(key)
        if raw:
            fields = {name.decode(): value.decode() for name, value in raw.items()}
            due = await redis.zscore(schedules_key, campaign_id)
            if await campaigns.create(
                legacy_campaign(fields),
                active=bool(await redis.sismember(active_key, campaign_id)),
                start_due=datetime.fromtimestamp(due / 1000, UTC) if due is not None else None,
            ):
                moved += 1
                await database.execute(
                    "UPDATE campaigns SET retry_runs = $2 WHERE id = $1",
                    campaign_id,
                    int(fields.get("retry_runs") or 0),
                )
        await redis.delete(key)
    owners = [key async for key in redis.scan_iter(match=keys("campaigns", "owner", "*"))]
    await redis.delete(active_key, schedules_key, *owners)
    return moved


def legacy_campaign(fields: dict[str, str]) -> CampaignRecord:
    """A campaign from the hash earlier versions kept: text fields, '' for none, the
    content and send window as JSON."""
    content = CONTENT.validate_json(fields.pop("content"))
    window = fields.pop("send_window", "")
    known = {
        name: value
        for name, value in fields.items()
        if value != "" and name in CampaignRecord.model_fields
    }
    send_window = SendWindow.model_validate_json(window) if window else None
    return CampaignRecord(content=content, send_window=send_window, **known)


async def move_suppressions_from_redis(
    redis: Redis, keys: Keys, database: asyncpg.Pool, account_sid: str
) -> int:
    """Opt-outs that earlier versions kept in Redis (``suppressions:{account}:details``,
    number -> {"reason", "added_ms"}; ``:audit``, a list of changes newest first) move
    to PostgreSQL, then leave Redis; the sorted set of numbers stays, as the copy."""
    details_key = keys("suppressions", account_sid, "details")
    audit_key = keys("suppressions", account_sid, "audit")
    details = await redis.hgetall(details_key)
    trail = await redis.lrange(audit_key, 0, -1)
    if not details and not trail:
        return 0
    rows = []
    for raw_phone, raw in details.items():
        entry = orjson.loads(raw)
        rows.append((account_sid, raw_phone.decode(), entry["reason"], _at(entry["added_ms"])))
    changes = [orjson.loads(raw) for raw in reversed(trail)]  # oldest first: ids ascend
    async with database.acquire() as connection, connection.transaction():
        await connection.executemany(
            "INSERT INTO suppressions (account_sid, phone, reason, added_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            rows,
        )
        # Api workers starting together may both move the trail: an entry already
        # there (same time, change, number and actor) is not written twice.
        await connection.executemany(
            "INSERT INTO suppression_audit (account_sid, at, action, phone, reason, actor)"
            " SELECT $1::text, $2::timestamptz, $3::text, $4::text, $5::text, $6::text"
            " WHERE NOT EXISTS (SELECT 1 FROM suppression_audit"
            " WHERE account_sid = $1 AND at = $2 AND action = $3 AND phone = $4 AND actor = $6)",
            [
                (account_sid, _at(c["at_ms"]), c["action"], c["phone"], c["reason"], c["actor"])
                for c in changes
            ],
        )
    await redis.delete(details_key, audit_key)
    return len(rows)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
