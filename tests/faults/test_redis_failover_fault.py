"""The Redis primary killed under a running campaign: the Sentinels promote the replica,
and the senders' claims (each acknowledged by the replica before its send) survive. The
killed primary is then restarted, as an orchestrator would, and becomes the replica."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.processes import ProcessTable, is_running
from devstack.redis import SentinelGroup, restart_lost_redis, start_redis_sentinel_group
from devstack.stack import stop_all
from tests.faults.harness import PACED, VALID, FaultRun
from tests.helpers import eventually_sync, free_port


@pytest.fixture
def sentinel_group(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ProcessTable, SentinelGroup]]:
    table = ProcessTable(Path(tmp_path_factory.mktemp("redis-failover-fault")))
    try:
        group = start_redis_sentinel_group(
            table, free_port(), free_port(), (free_port(), free_port(), free_port())
        )
        yield table, group
    finally:
        stop_all(table)


def _kill_primary(table: ProcessTable, group: SentinelGroup) -> None:
    tracked = table.get("redis")
    assert tracked is not None and is_running(tracked)
    assert group.master_port() == group.primary_port
    os.kill(tracked.pid, signal.SIGKILL)


def test_the_redis_primary_killed_mid_campaign(
    sentinel_group, make_system, sandbox_admin, fault_table
):
    table, group = sentinel_group
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(
        sender_replicas=2,
        redis_url=group.primary_url,
        redis_sentinels=group.sentinels,
        redis_sentinel_master=group.master,
        redis_min_replicas_acked=1,
        **PACED,
    )
    run = FaultRun(system, sandbox_admin, "redis primary killed")
    run.wait_sent(VALID // 4)
    _kill_primary(table, group)
    promoted = eventually_sync(
        lambda: group.live_master_port() == group.replica_port,
        timeout_s=30,
        what="the replica promoted by the Sentinels",
    )
    assert promoted
    # With its only replica promoted, no claim can be acknowledged: sending waits until
    # the old primary is back (as the orchestrator would restart it), now a replica.
    restart_lost_redis(table, group)
    outcome = run.finish()
    fault_table.record(
        "`kill -9` of the Redis primary mid-campaign (a replica and three Sentinels)",
        "the Sentinels promoted the replica within seconds and the services followed; "
        "every claim had been acknowledged by the replica (WAIT) before its send, so none "
        "was lost; with no replica left, sends waited (an outage) until the old primary "
        "was restarted as the new replica; the claims taken meanwhile were reconciled",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)
