"""create-token prints a token once; it authenticates, and Redis keeps only its hash."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path

from shared.redis import Keys
from tests.api.conftest import Api
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

    stored = await api.redis.hgetall(Keys(api.settings.redis_key_prefix)("api_tokens"))
    assert stored == {hashlib.sha256(token.encode()).hexdigest().encode(): b"carol"}

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
