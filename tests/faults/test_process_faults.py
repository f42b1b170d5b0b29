"""Processes killed mid-campaign, and a flaky Twilio: nothing lost, nothing sent twice."""

from __future__ import annotations

from tests.faults.harness import PACED, VALID, FaultRun, kill_hard


def test_a_sender_replica_killed_mid_campaign(make_system, sandbox_admin, fault_table):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=2, **PACED)
    run = FaultRun(system, sandbox_admin, "sender killed")
    run.wait_sent(VALID // 4)
    kill_hard(system, "sender-0")
    system.start_extra("sender-2")
    outcome = run.finish()
    fault_table.record(
        "`kill -9` of one of two sender replicas at a quarter of the campaign; a new "
        "replica started",
        "the group gave the dead replica's partitions to the others; commands it had "
        "claimed were reconciled with Twilio before any resend",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)


def test_the_dispatcher_killed_mid_expansion(make_system, sandbox_admin, fault_table):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    # Small batches: the expansion is still going (credits) when the kill comes.
    system = make_system(sender_replicas=2, batch_size=100, max_concurrent_batches=4, **PACED)
    run = FaultRun(system, sandbox_admin, "dispatcher killed")
    run.wait_sent(VALID // 4)
    assert run.status()["waitingJobs"] > 0, "the expansion ended before the kill"
    kill_hard(system, "dispatcher")
    system.start("dispatcher")
    outcome = run.finish()
    fault_table.record(
        "`kill -9` of the dispatcher mid-expansion; restarted",
        "the restarted dispatcher continued from its saved cursor; batches emitted again "
        "were recognised by the senders' ledger",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)


def test_the_metrics_service_killed_mid_campaign(make_system, sandbox_admin, fault_table):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(sender_replicas=2, **PACED)
    run = FaultRun(system, sandbox_admin, "metrics killed")
    run.wait_sent(VALID // 4)
    kill_hard(system, "metrics")
    system.start("metrics")
    outcome = run.finish()
    fault_table.record(
        "`kill -9` of the metrics service mid-campaign; restarted",
        "results not yet committed were folded again; each contact counted once",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)


def test_random_server_errors_and_throttling(make_system, sandbox_admin, fault_table):
    faults = {"mps": 1_000_000, "error_rate": 0.2, "force_429_rate": 0.05}
    sandbox_admin.post("/_sandbox/faults", json=faults).raise_for_status()
    # A quarter of calls fail: five attempts would leave about five contacts failed by
    # chance (0.25^5 of 5,000), so this case gives the retries a larger budget.
    system = make_system(sender_replicas=2, send_max_attempts=10, **PACED)
    run = FaultRun(system, sandbox_admin, "flaky twilio")
    outcome = run.finish()
    responses = sandbox_admin.get("/_sandbox/stats").json()["responses"]
    fault_table.record(
        "20% random HTTP 500 and 5% 429 from Twilio for the whole campaign",
        f"retried with backoff and jitter ({responses.get('500', 0)} answers 500, "
        f"{responses.get('429', 0)} answers 429) within 10 attempts (with the default 5, "
        "about 5 contacts would fail all five by chance and be reported failed, retryable); "
        "each retry checked the ledger first",
        outcome,
    )
    assert (outcome.lost, outcome.duplicates) == (0, 0)
