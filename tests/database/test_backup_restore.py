"""docs/backup.md's commands, as written there: a dump of a running system's database
restored into a fresh one, and the api serving from the copy what it served before."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

from devstack.postgres import client_program
from services.api.settings import ApiSettings
from shared.database.migrate import current_revision, migrate
from tests.api.conftest import API_TOKENS, serving, valid_phone
from tests.conftest import StackEndpoints, scratch_database


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


async def test_a_dump_restored_into_a_fresh_database_serves_the_same_records(
    stack: StackEndpoints, make_settings, redis, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(ApiSettings, api_tokens=API_TOKENS)
    async with serving(settings, redis) as api:
        token, _ = await api.app.state.tokens.issue("carol", expires_in_s=3600)
        contacts = [{"phone": valid_phone(i), "vars": {"v": f"n{i}"}} for i in range(5)]
        added = await api.alice.post("/api/contacts", json=contacts)
        assert added.status_code == 201, added.text
        before = (await api.alice.get("/api/contacts")).json()
        made = (await api.alice.post("/api/lists", json={"name": "kept"})).json()
        ids = [contact["id"] for contact in added.json()["contacts"]]
        await api.alice.post(f"/api/lists/{made['id']}/members", json={"contactIds": ids})
        created = await api.alice.post(
            "/api/campaigns", json={"name": "kept", "message": "Hi {{v}}", "listId": made["id"]}
        )
        assert created.status_code == 201, created.text
        campaign_url = f"/api/campaigns/{created.json()['id']}"
        assert (await api.alice.post(f"{campaign_url}/queue-stop")).status_code == 200
        paths = [
            "/api/lists",
            f"/api/lists/{made['id']}/members",
            campaign_url,
            f"{campaign_url}/status-history",
            f"{campaign_url}/recipients",
        ]
        served = {path: (await api.alice.get(path)).json() for path in paths}

    dump = tmp_path / "campaign_queue.dump"
    pg_dump, pg_restore = str(client_program("pg_dump")), str(client_program("pg_restore"))
    _run([pg_dump, "--format=custom", f"--file={dump}", database_url])
    with scratch_database(stack, "restored_") as restored_url:
        _run([pg_restore, "--no-owner", f"--dbname={restored_url}", str(dump)])
        # A dump of an older release is brought up to date (off the loop: Alembic's own).
        await asyncio.to_thread(migrate, restored_url)
        revisions = [
            await asyncio.to_thread(current_revision, url) for url in (restored_url, database_url)
        ]
        assert revisions[0] == revisions[1] is not None

        restored = settings.model_copy(update={"database_url": restored_url})
        async with serving(restored, redis) as api:
            assert (await api.alice.get("/api/contacts")).json() == before
            assert {path: (await api.alice.get(path)).json() for path in paths} == served
            as_carol = {"Authorization": f"Bearer {token}"}
            assert (await api.anonymous.get("/api/campaigns", headers=as_carol)).status_code == 200
            unknown = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
            assert (await api.anonymous.get("/api/campaigns", headers=unknown)).status_code == 401
