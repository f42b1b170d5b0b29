"""A dispatcher killed mid-expansion continues from its cursor, not from the start."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter

from aiokafka import AIOKafkaConsumer

from devstack.processes import is_running
from shared.events import decode
from shared.events.models import SendMessageBatch
from tests.e2e.test_campaigns import create_campaign, start, valid_phone
from tests.helpers import eventually_sync

CONTACTS = 20_000
BATCH_SIZE = 40


def _jobs(client, campaign_id: str) -> dict:
    return client.get(f"/api/campaigns/{campaign_id}/queue-status").json()["status"]


async def _commands_per_contact(bootstrap: str, topic: str) -> Counter[str]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(consumer.assignment()) or [])
        await consumer.seek_to_beginning()
        counts: Counter[str] = Counter()
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = decode(record.value)
                    assert isinstance(event, SendMessageBatch)
                    counts.update(command.contact_id for command in event.commands)
            positions = {tp: await consumer.position(tp) for tp in ends}
            if all(positions[tp] >= end for tp, end in ends.items()):
                return counts
    finally:
        await consumer.stop()


def test_a_killed_dispatcher_resumes_from_its_cursor(make_system, stack) -> None:
    # No sender: this test is about what the dispatcher puts on message.commands, so
    # no results return credits either: let every batch be in flight at once.
    system = make_system(
        sender_replicas=0,
        max_concurrent_batches=CONTACTS,
        batch_size=BATCH_SIZE,
        commands_per_record=10,
        message_commands_partitions=2,
    )
    with system.client() as client:
        campaign = create_campaign(client, "big", [valid_phone(i) for i in range(CONTACTS)])
        start(client, campaign["id"])
        total_jobs = CONTACTS // BATCH_SIZE

        def emitted() -> int:
            status = _jobs(client, campaign["id"])
            return status["totalJobs"] - status["waitingJobs"] if status["totalJobs"] else 0

        emitted_before_kill = eventually_sync(
            lambda: emitted() >= total_jobs // 10 and emitted(),
            timeout_s=60,
            what="a tenth of the batches emitted",
        )
        dispatcher = system.table.get("dispatcher")
        os.kill(dispatcher.pid, signal.SIGKILL)
        eventually_sync(lambda: not is_running(dispatcher), timeout_s=10, what="dispatcher gone")
        assert emitted() < total_jobs, "the expansion ended before the kill: make it longer"

        system.table.stop("dispatcher")  # forget the dead process
        system.start("dispatcher")
        eventually_sync(lambda: emitted() == total_jobs, timeout_s=120, what="every batch emitted")

    topic = f"{system.env['KAFKA_TOPIC_PREFIX']}message.commands"
    counts = asyncio.run(_commands_per_contact(stack.kafka_bootstrap, topic))
    assert len(counts) == CONTACTS  # every contact has its command
    repeated = sum(n - 1 for n in counts.values())
    # Only batches emitted after the last cursor write that reached Kafka come again:
    # far fewer than had been emitted before the kill.
    assert repeated < emitted_before_kill * BATCH_SIZE / 2, (repeated, emitted_before_kill)
