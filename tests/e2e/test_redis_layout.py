"""Which records live in Redis, asserted: after a campaign has gone through every
service, each key belongs to a known family, and none holds what PostgreSQL owns
(docs/architecture.md, "Which store owns what"). A new key family must be added here,
on purpose."""

from __future__ import annotations

import re

import redis

from tests.e2e.test_campaigns import FAST, start, valid_phone, wait_finished

# Families of keys after the prefix ({id}: the campaign), each with its owner.
ALLOWED = [
    # shared/store/campaign_status.py: the copy of each campaign's status.
    r"campaign:\{id\}:status",
    # shared/store/progress.py: live counters, and the original contract's job list.
    r"progress:\{id\}(:(batches|outcomes|errors|retryable))?",
    r"jobs:completed",
    # shared/store/rate_series.py: sent and failed per second for the campaign page's
    # chart, written by the metrics service's progress and funnel folds.
    r"rate:\{id\}:(sends|receipts)",
    # services/sender/ledger.py and limiter.py; services/api/senders.py's heartbeats.
    r"ledger:\{id\}",
    r"limiter:.+",
    r"limiter_schedule:.+",
    r"workers:sender",
    # shared/store/suppressions.py: the dispatcher's copy of the opt-outs.
    r"suppressions:[^:]+(:loaded)?",
    # shared/store/stats.py: alert windows; services/api/dashboard.py: cache generations.
    r"stats:(outcomes|twilio):\d+",
    r"dashboard:generation:[^:]+",
    # shared/store/expansion.py: a tick on its way; it expires within 5 s, so one sent
    # just before the campaign finished may still be here.
    r"dispatch:tick:\{id\}",
]
# What moved to PostgreSQL (issue 17): Redis must hold none of it any more.
OWNED_BY_POSTGRES = [
    r"api_tokens",
    r"campaign:\{id\}",
    r"campaigns:.*",
    r"schedules",
    r"contacts:.*",
    r".*:audience",
    r"suppressions:[^:]+:(details|audit)",
]


def test_redis_holds_only_known_families_and_nothing_postgres_owns(
    make_system, sandbox_admin
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(**FAST)
    with system.client() as client:
        stored = client.post(
            "/api/contacts", json=[{"phone": valid_phone(i), "name": f"n{i}"} for i in range(3)]
        )
        assert stored.status_code == 201, stored.text
        ids = [contact["id"] for contact in stored.json()["contacts"]]
        created = client.post(
            "/api/campaigns",
            json={
                "name": "layout",
                "message": "Hola {{name}}",
                "contacts": [*ids, {"phone": valid_phone(9), "name": "n9"}],
            },
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        start(client, campaign_id)
        wait_finished(client, campaign_id, timeout_s=120)

    prefix = system.env["REDIS_KEY_PREFIX"]
    client = redis.Redis.from_url(system.env["REDIS_URL"])
    try:
        keys = sorted(k.decode()[len(prefix) :] for k in client.scan_iter(match=f"{prefix}*"))
    finally:
        client.close()
    families = {re.sub(re.escape(campaign_id), "{id}", key) for key in keys}
    owned = [f for f in families if any(re.fullmatch(o, f) for o in OWNED_BY_POSTGRES)]
    assert owned == [], families
    unknown = sorted(f for f in families if not any(re.fullmatch(a, f) for a in ALLOWED))
    assert unknown == [], f"key families not in ALLOWED: {unknown}"
