"""create-token prints a token once; it authenticates, and PostgreSQL keeps only its hash.
list-tokens shows ids and roles, never tokens; revoke-token ends one."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from datetime import datetime
from pathlib import Path

import orjson

from services.api.settings import ApiSettings
from shared.redis import Keys
from tests.api.conftest import API_TOKENS, Api, serving
from tests.conftest import settings_environment

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_created_token_authenticates_as_its_user(api: Api) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS"))}
    env.update(settings_environment(api.settings))
    env["PYTHONPATH"] = str(REPO_ROOT)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.api",
        "create-token",
        "carol",
        env=env,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    token = stdout.decode().strip()
    assert len(token) >= 32 and "\n" not in token

    database = api.app.state.connections.database
    stored = [dict(row) for row in await database.fetch("SELECT * FROM api_tokens")]
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert [row["digest"] for row in stored] == [digest]
    assert token not in str(stored)
    row = stored[0]
    assert (row["user_id"], row["role"], row["expires_at"]) == ("carol", "marketer", None)
    assert await database.fetchval("SELECT count(*) FROM users WHERE id = 'carol'") == 1

    headers = {"Authorization": f"Bearer {token}"}
    created = await api.anonymous.post(
        "/api/campaigns",
        headers=headers,
        json={"name": "c", "message": "hi", "contacts": [{"phone": "+34612345678"}]},
    )
    assert created.status_code == 201, created.text
    mine = (await api.anonymous.get("/api/campaigns", headers=headers)).json()
    assert [c["id"] for c in mine["campaigns"]] == [created.json()["id"]]
    assert (await api.alice.get(f"/api/campaigns/{created.json()['id']}")).status_code == 404
    wrong = {"Authorization": f"Bearer {token}x"}
    assert (await api.anonymous.get("/api/campaigns", headers=wrong)).status_code == 401


async def run_cli(api: Api, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``python -m services.api ARGS`` against the test's Redis: (status, stdout, stderr)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS"))}
    environment.update(settings_environment(api.settings))
    environment["PYTHONPATH"] = str(REPO_ROOT)
    environment.update(env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.api",
        *args,
        env=environment,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_an_admin_token_with_expiry_is_listed_then_revoked(api: Api) -> None:
    status, stdout, stderr = await run_cli(
        api, "create-token", "erin", "--role", "admin", "--expires-in", "30d"
    )
    assert status == 0, stderr
    token = stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    # An admin: it may list the opt-outs, which a marketer may not.
    assert (await api.anonymous.get("/api/suppressions", headers=headers)).status_code == 200

    status, listing, stderr = await run_cli(api, "list-tokens")
    assert status == 0, stderr
    assert token not in listing
    rows = [line.split("\t") for line in listing.splitlines()[1:]]
    erin = [row for row in rows if row[1] == "erin"]
    assert len(erin) == 1
    token_id, _, role, source, created, expires, state = erin[0]
    assert (role, source, state) == ("admin", "issued", "active")
    days = (datetime.fromisoformat(expires) - datetime.fromisoformat(created)).days
    assert days == 30
    assert token_id == hashlib.sha256(token.encode()).hexdigest()[:12]

    status, stdout, stderr = await run_cli(api, "revoke-token", token_id)
    assert status == 0, stderr
    assert (await api.anonymous.get("/api/campaigns", headers=headers)).status_code == 401
    status, _, stderr = await run_cli(api, "revoke-token", token_id)
    assert status != 0 and token_id in stderr


async def test_bad_token_options_and_settings_stop_with_one_line(api: Api) -> None:
    status, stdout, stderr = await run_cli(api, "create-token", "erin", "--expires-in", "soon")
    assert status != 0 and stdout == ""
    assert stderr.strip().startswith("--expires-in") and len(stderr.strip().splitlines()) == 1

    status, _, stderr = await run_cli(api, "create-token", "erin", "--role", "owner")
    assert status != 0 and "--role" in stderr

    bad = {"API_TOKENS": "alice:secret:superuser"}
    status, _, stderr = await run_cli(api, "list-tokens", env=bad)
    assert status != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "API_TOKENS" in lines[0] and "secret" not in lines[0]


async def test_tokens_issued_into_redis_before_move_to_postgres(
    make_settings, redis, database
) -> None:
    settings = make_settings(ApiSettings, api_tokens=API_TOKENS)
    key = Keys(settings.redis_key_prefix)("api_tokens")
    with_role, bare = "a-token-with-a-role", "a-token-from-before-roles"
    created_ms = 1_700_000_000_000
    entry = {"user": "erin", "role": "admin", "created_ms": created_ms}
    await redis.hset(
        key,
        mapping={
            hashlib.sha256(with_role.encode()).hexdigest(): orjson.dumps(entry),
            hashlib.sha256(bare.encode()).hexdigest(): b"frank",
        },
    )
    async with serving(settings, redis) as api:
        as_erin = {"Authorization": f"Bearer {with_role}"}
        as_frank = {"Authorization": f"Bearer {bare}"}
        assert (await api.anonymous.get("/api/tokens", headers=as_erin)).status_code == 200
        assert (await api.anonymous.get("/api/tokens", headers=as_frank)).status_code == 403
        assert (await api.anonymous.get("/api/campaigns", headers=as_frank)).status_code == 200
    assert await redis.exists(key) == 0
    rows = await database.fetch("SELECT user_id, role, created_at FROM api_tokens")
    assert {(row["user_id"], row["role"]) for row in rows} == {
        ("erin", "admin"),
        ("frank", "marketer"),
    }
    erin = next(row for row in rows if row["user_id"] == "erin")
    assert int(erin["created_at"].timestamp() * 1000) == created_ms
