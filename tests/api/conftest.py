"""The api in-process on the real Kafka and Redis, with clients for two users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest_asyncio
from fastapi import FastAPI
from redis.asyncio import Redis

from services.api.app import create_app
from services.api.settings import ApiSettings
from shared.redis import Keys
from shared.store.campaigns import CampaignStore
from shared.store.recipients import RecipientStore
from shared.store.suppressions import SuppressionCache, SuppressionStore

ALICE_TOKEN = "alice-secret-token"
BOB_TOKEN = "bob-secret-token"
ADMIN_TOKEN = "root-secret-token"
# alice and bob are marketers; root has the admin role.
API_TOKENS = f"alice:{ALICE_TOKEN},bob:{BOB_TOKEN},root:{ADMIN_TOKEN}:admin"


@dataclass
class Api:
    app: FastAPI
    settings: ApiSettings
    redis: Redis
    alice: httpx.AsyncClient
    bob: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    admin: httpx.AsyncClient

    @property
    def suppressions(self) -> SuppressionStore:
        """The opt-outs of the api's Twilio account: the record and the dispatcher's copy."""
        account = self.settings.twilio_credentials[0]
        cache = SuppressionCache(self.redis, Keys(self.settings.redis_key_prefix), account)
        return SuppressionStore(self.app.state.connections.database, cache, account)

    @property
    def campaigns(self) -> CampaignStore:
        """The campaign definitions, on the running app's own pool and Redis."""
        return CampaignStore(
            self.app.state.connections.database, self.redis, Keys(self.settings.redis_key_prefix)
        )

    @property
    def recipients(self) -> RecipientStore:
        """The frozen audiences, on the running app's own pool."""
        return RecipientStore(self.app.state.connections.database)


def valid_phone(index: int) -> str:
    """Spanish mobiles, valid for phonenumbers."""
    return f"+3461{index // 9000:03d}{index % 9000 + 1000:04d}"


@pytest_asyncio.fixture
async def api(make_settings, redis: Redis) -> AsyncIterator[Api]:
    # Lag read fresh on every request: the alert monitor reads it too, and a cached
    # reading from before a test's commit would hide the commit.
    settings = make_settings(
        ApiSettings, api_tokens=API_TOKENS, batch_size=2, consumer_lag_cache_s=0
    )
    async with serving(settings, redis) as running:
        yield running


@asynccontextmanager
async def serving(settings: ApiSettings, redis: Redis) -> AsyncIterator[Api]:
    """The app built from ``settings`` (with API_TOKENS), running, and its clients."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)

        def client(token: str | None) -> httpx.AsyncClient:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers)

        async with (
            client(ALICE_TOKEN) as alice,
            client(BOB_TOKEN) as bob,
            client(None) as anon,
            client(ADMIN_TOKEN) as admin,
        ):
            yield Api(app, settings, redis, alice, bob, anon, admin)


async def create_campaign(client: httpx.AsyncClient, **overrides: object) -> dict:
    body = {
        "name": "spring sale",
        "message": "Hola {{name}}",
        "contacts": [{"phone": valid_phone(i), "name": f"n{i}"} for i in range(3)],
        # Tests here pass contacts without names to a message that names one; the
        # refusal by default is test_hostile_input.py's.
        "missingVars": "empty",
        **overrides,
    }
    response = await client.post("/api/campaigns", json=body)
    assert response.status_code == 201, response.text
    return response.json()
