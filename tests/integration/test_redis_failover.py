"""Redis with failover: a primary, a replica and three Sentinels of this module's own.
The primary is killed with SIGKILL; what a client was told was written (after WAIT for
the replica) must be on the replica the Sentinels promote, ledger claims included."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from devstack.processes import ProcessTable, is_running
from devstack.redis import (
    REPLICA_NAME,
    SentinelGroup,
    restart_lost_redis,
    start_redis_sentinel_group,
)
from devstack.stack import stop_all
from services.sender.ledger import Ledger, LedgerState, Verdict, verdict
from services.sender.limiter import SlidingWindowLimiter, default_windows
from shared.outages import is_outage
from shared.redis import Keys, ReplicaAcks, ReplicasBehind, make_redis, redis_reachable
from shared.settings import Settings
from tests.helpers import eventually, eventually_sync, free_port

FAILOVER_TIMEOUT_S = 30
SENDER_NUMBER = "whatsapp:+14155550100"
STALE_AFTER_MS = 20_000


@dataclass
class FailoverGroup:
    table: ProcessTable
    group: SentinelGroup

    def settings(self, prefix: str, **overrides: object) -> Settings:
        return Settings(
            redis_url=self.group.primary_url,
            redis_sentinels=self.group.sentinels,
            redis_sentinel_master=self.group.master,
            redis_key_prefix=prefix,
            **overrides,
        )

    def ready(self) -> int:
        """The master's port, with a replica in sync that could take over from it."""
        restart_lost_redis(self.table, self.group, FAILOVER_TIMEOUT_S)
        master = self.group.live_master_port()
        assert master is not None
        return master

    def kill_master(self) -> int:
        """SIGKILL the process serving as master; returns its port."""
        master = self.ready()
        name = "redis" if master == self.group.primary_port else REPLICA_NAME
        tracked = self.table.get(name)
        assert tracked is not None and is_running(tracked)
        os.kill(tracked.pid, signal.SIGKILL)
        eventually_sync(lambda: not is_running(tracked), timeout_s=10, what=f"{name} killed")
        return master


@pytest.fixture(scope="module")
def failover(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailoverGroup]:
    table = ProcessTable(Path(tmp_path_factory.mktemp("redis-sentinel")))
    try:
        group = start_redis_sentinel_group(
            table, free_port(), free_port(), (free_port(), free_port(), free_port())
        )
        yield FailoverGroup(table, group)
    finally:
        stop_all(table)


def _prefix() -> str:
    return f"failover-{uuid.uuid4().hex[:8]}:"


async def _answers_from(client: Redis, port: int) -> bool:
    """The client's next command goes to the master on ``port`` (after a failover the
    first ones fail while the Sentinels elect a new one)."""
    try:
        await client.ping()
    except RedisError:
        return False
    return client.connection_pool.master_address == ("127.0.0.1", port)  # type: ignore[attr-defined]


def test_sentinels_must_be_host_port_pairs() -> None:
    with pytest.raises(ValidationError, match="expected host:port"):
        Settings(redis_sentinels="127.0.0.1:26379,sentinel-b")
    assert Settings(redis_sentinels=" a:1, b:2 ").redis_sentinel_addresses == [("a", 1), ("b", 2)]


async def test_acknowledged_writes_survive_the_primary_killed(failover: FailoverGroup) -> None:
    prefix = _prefix()
    master = failover.ready()
    client = make_redis(failover.settings(prefix))
    acks = ReplicaAcks(replicas=1, timeout_ms=2_000)
    try:
        assert await _answers_from(client, master)
        for index in range(50):
            async with client.pipeline(transaction=False) as pipe:
                pipe.set(f"{prefix}{index}", index)
                acks.queue_wait(pipe)
                _, acknowledged = await pipe.execute()
            acks.check(acknowledged)

        killed = failover.kill_master()
        promoted = await eventually(
            lambda: failover_done(failover.group, killed),
            timeout_s=FAILOVER_TIMEOUT_S,
            what="a replica promoted",
        )
        await eventually(
            lambda: _answers_from(client, promoted),
            timeout_s=FAILOVER_TIMEOUT_S,
            what="the client reaching the promoted replica",
        )
        values = await client.mget([f"{prefix}{index}" for index in range(50)])
        assert [int(v) for v in values] == list(range(50))
        assert (await client.execute_command("ROLE"))[0] == b"master"
        assert await redis_reachable(client)  # what /health asks
        await client.set(f"{prefix}after", "written to the new master")
    finally:
        await client.aclose()


async def failover_done(group: SentinelGroup, killed: int) -> int | None:
    port = group.live_master_port()
    return port if port not in (None, killed) else None


async def test_a_granted_claim_survives_the_primary_killed(failover: FailoverGroup) -> None:
    prefix = _prefix()
    master = failover.ready()
    settings = failover.settings(prefix, redis_min_replicas_acked=1, redis_wait_timeout_ms=2_000)
    first, second = make_redis(settings), make_redis(settings)
    keys = Keys(prefix)
    try:
        assert await _answers_from(first, master)
        limiter = SlidingWindowLimiter(
            first,
            keys,
            default_windows(100_000, 6_000_000, 360_000_000),
            acks=ReplicaAcks.of(settings),
        )
        ledger = Ledger(first, keys, "sender-a", ttl_s=3600)
        contacts = [f"contact-{index}" for index in range(20)]
        grants = await limiter.grant(
            SENDER_NUMBER, [ledger.claim_request("campaign", c, None) for c in contacts]
        )
        assert [grant.granted for grant in grants.dealt] == [True] * len(contacts)

        killed = failover.kill_master()
        promoted = await eventually(
            lambda: failover_done(failover.group, killed),
            timeout_s=FAILOVER_TIMEOUT_S,
            what="a replica promoted",
        )
        # A second sender, its first connection made after the failover.
        await eventually(
            lambda: _answers_from(second, promoted),
            timeout_s=FAILOVER_TIMEOUT_S,
            what="the second sender reaching the promoted replica",
        )
        other = Ledger(second, keys, "sender-b", ttl_s=3600)
        for contact in contacts:
            snapshot = await other.read("campaign", contact)
            assert snapshot.entry is not None, f"{contact}: the claim was lost in the failover"
            assert (snapshot.entry.state, snapshot.entry.replica) == (
                LedgerState.CLAIMED,
                "sender-a",
            )
            # The second sender waits for the claim's owner, then reconciles with Twilio.
            assert verdict(snapshot, STALE_AFTER_MS) is Verdict.BUSY
        # The limiter's log came along too: the promoted replica counts these grants.
        log_key = keys("limiter", SENDER_NUMBER)
        assert await second.zcard(log_key) == len(contacts)
    finally:
        await first.aclose()
        await second.aclose()


async def test_too_few_replicas_acknowledging_is_an_outage(make_settings) -> None:
    """The session's Redis has no replica: a grant with WAIT for one must not be sent."""
    settings = make_settings()
    client = make_redis(settings)
    keys = Keys(settings.redis_key_prefix)
    try:
        limiter = SlidingWindowLimiter(
            client, keys, default_windows(10, 600, 36_000), acks=ReplicaAcks(1, timeout_ms=50)
        )
        ledger = Ledger(client, keys, "sender-a", ttl_s=60)
        with pytest.raises(ReplicasBehind) as raised:
            await limiter.grant(SENDER_NUMBER, [ledger.claim_request("c", "contact", None)])
        assert is_outage(raised.value)
        # A lone Redis pays nothing. (Its own windows: the refused grant above still
        # holds its place in the first limiter's, a tenth of a second at 10/s.)
        lone_keys = Keys(f"{settings.redis_key_prefix}lone:")
        without_wait = SlidingWindowLimiter(client, lone_keys, default_windows(10, 600, 36_000))
        assert (await without_wait.grant(SENDER_NUMBER, 1)).dealt
    finally:
        await client.aclose()
