"""A three-broker Kafka cluster losing, restarting or freezing brokers under a running
campaign: topics have three copies of which two must hold a record, producers are
idempotent with acks=all, and unclean leader election is off, so no acknowledged event
is lost and the senders' ledger keeps every contact to one message."""

from __future__ import annotations

import os
import signal
import time

from devstack.kafka import node_name
from devstack.system import System
from tests.faults.harness import PACED, VALID, FaultRun
from tests.kafka_cluster import NODES, KafkaCluster

FREEZE_S = 30


def _campaign(
    cluster: KafkaCluster, make_system, sandbox_admin, name: str
) -> tuple[System, FaultRun]:
    cluster.wait_in_sync()
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=2, **cluster.settings, **PACED)
    return system, FaultRun(system, sandbox_admin, name)


def _commands_topic(system: System) -> str:
    return f"{system.env.get('KAFKA_TOPIC_PREFIX', '')}message.commands"


def test_the_broker_leading_most_commands_killed(
    kafka_cluster, make_system, sandbox_admin, fault_table
):
    system, run = _campaign(kafka_cluster, make_system, sandbox_admin, "leader killed")
    run.wait_sent(VALID // 4)
    victim = kafka_cluster.leading_most(_commands_topic(system))
    os.kill(kafka_cluster.pid(victim), signal.SIGKILL)
    outcome = run.finish()
    fault_table.record(
        "3 Kafka brokers: `kill -9` of the one leading most message.commands partitions",
        "the controllers moved its partitions' leadership to the two in-sync followers; "
        "producers (idempotent, acks=all) and consumer groups followed the new leaders; "
        "nothing acknowledged was lost",
        outcome,
    )
    kafka_cluster.restart(victim)
    assert (outcome.lost, outcome.duplicates) == (0, 0)


def test_a_rolling_restart_of_the_three_brokers(
    kafka_cluster, make_system, sandbox_admin, fault_table
):
    _, run = _campaign(kafka_cluster, make_system, sandbox_admin, "rolling restart")
    run.wait_sent(VALID // 8)
    for node_id in range(1, NODES + 1):
        kafka_cluster.table.stop(node_name(node_id, NODES))  # SIGTERM: a controlled shutdown
        kafka_cluster.restart(node_id)
        kafka_cluster.wait_in_sync()  # back in sync before the next one goes
    outcome = run.finish()
    fault_table.record(
        "3 Kafka brokers restarted one at a time, each back in sync before the next",
        "each broker handed its leaderships over before stopping and caught up after; "
        "writes went on with two copies in sync",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)


def test_a_broker_frozen_for_thirty_seconds(kafka_cluster, make_system, sandbox_admin, fault_table):
    system, run = _campaign(kafka_cluster, make_system, sandbox_admin, "broker frozen")
    run.wait_sent(VALID // 4)
    victim = kafka_cluster.leading_most(_commands_topic(system))
    pid = kafka_cluster.pid(victim)
    # As a network partition looks from outside: the process is there, and answers
    # nothing (no connection refused, no controlled shutdown) until it is thawed.
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(FREEZE_S)  # how long the fault lasts: a duration, not a wait for anything
    finally:
        os.kill(pid, signal.SIGCONT)
    outcome = run.finish()
    kafka_cluster.wait_in_sync()  # the thawed broker catches up and rejoins
    fault_table.record(
        "3 Kafka brokers: the one leading most message.commands partitions frozen "
        "(SIGSTOP) for 30 s, then thawed",
        "its broker session expired, so the controllers fenced it, dropped it from the "
        "in-sync replicas and moved its leaderships; clients timed out on it and went to "
        "the new leaders; thawed, it found itself fenced, caught up and rejoined",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)
