"""The scenarios of BENCHMARKS.md, each returning its figures as a dict.

Sizes shrink in smoke mode (`make test` runs it to prove every scenario still
produces its numbers); the figures of a smoke run mean nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.harness import (
    UNLIMITED,
    Bench,
    commands_backlog,
    cpu_seconds,
    create_and_start,
    limits,
    percentile,
    progress,
    rss_mb,
    seed_campaign,
    wait_done,
    wait_until,
)
from devstack.system import TOKEN


def _most_in_any_second(times_ms: list[int]) -> int:
    return max(
        (bisect.bisect_left(times_ms, t + 1_000) - i for i, t in enumerate(times_ms)), default=0
    )


def rate_precision(bench: Bench, smoke: bool) -> dict:
    """3 replicas at the default limits (10/s): how close to the limit, never above it."""
    messages = 30 if smoke else 600
    with bench.system(sender_replicas=3) as system, system.client() as client:
        campaign_id = create_and_start(client, "rate precision", messages)
        wait_done(client, campaign_id, timeout_s=messages / 5 + 60)
    times = bench.ledger_times()
    span_s = (times[-1] - times[0]) / 1000
    achieved = (len(times) - 1) / span_s if span_s else 0.0
    return {
        "messages": len(times),
        "achieved_per_s": round(achieved, 3),
        "allowed_per_s": 10,
        "ratio": round(achieved / 10, 4),
        "most_in_any_second": _most_in_any_second(times),
        "answers_429": bench.sandbox.get("/_sandbox/stats").json()["responses"].get("429", 0),
    }


def pipeline_capacity(bench: Bench, smoke: bool) -> dict:
    """End-to-end messages per second, from the start request to the last result folded,
    and CPU seconds per 1,000 messages per service."""
    messages = 300 if smoke else 20_000
    runs = []
    for latency_ms in (0, 100):
        for replicas in (1,) if smoke else (1, 2, 3):
            env = {**UNLIMITED, "TWILIO_MAX_CONCURRENT": "200"}
            with bench.system(sender_replicas=replicas, **env) as system, system.client() as client:
                bench.faults(mps=1_000_000, latency_ms=latency_ms)
                pids = {name: system.table.get(name).pid for name in system.names()}
                cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                started = time.monotonic()
                campaign_id = create_and_start(client, "capacity", messages)
                wait_done(client, campaign_id, timeout_s=600)
                elapsed = time.monotonic() - started
                cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            senders = sum(v for k, v in cpu.items() if k.startswith("sender"))
            per_thousand = {k: v for k, v in cpu.items() if not k.startswith("sender")}
            per_thousand["senders"] = senders
            runs.append(
                {
                    "latency_ms": latency_ms,
                    "sender_replicas": replicas,
                    "messages": messages,
                    "seconds": round(elapsed, 2),
                    "messages_per_s": round(messages / elapsed, 1),
                    "cpu_s_per_1000": {
                        k: round(v * 1000 / messages, 3) for k, v in sorted(per_thousand.items())
                    },
                }
            )
    return {"runs": runs}


def control_latency(bench: Bench, smoke: bool) -> dict:
    """Pauses during a campaign at 200 msg/s: last accepted message minus pause answer."""
    pauses = 3 if smoke else 20
    lateness_ms: list[float] = []
    with bench.system(sender_replicas=2, **limits(200)) as system, system.client() as client:
        bench.faults(mps=1_000_000)
        campaign_id = create_and_start(client, "control", 5_000)
        for _ in range(pauses):
            before = len(bench.ledger_times())
            wait_until(lambda n=before: len(bench.ledger_times()) >= n + 50, 60, "sending")
            client.post(f"/api/campaigns/{campaign_id}/queue-pause").raise_for_status()
            paused_at_ms = time.time() * 1000

            def settled() -> list[int] | None:
                times = bench.ledger_times()
                return times if time.time() * 1000 - times[-1] >= 1_000 else None

            last = wait_until(settled, 30, "no send for a second")[-1]
            lateness_ms.append(last - paused_at_ms)
            client.post(f"/api/campaigns/{campaign_id}/queue-resume").raise_for_status()
        client.post(f"/api/campaigns/{campaign_id}/queue-stop").raise_for_status()
    return {
        "pauses": pauses,
        "p50_ms": round(percentile(lateness_ms, 0.5), 1),
        "p99_ms": round(percentile(lateness_ms, 0.99), 1),
        "max_ms": round(max(lateness_ms), 1),
    }


def api_under_load(bench: Bench, smoke: bool) -> dict:
    """queue-status and the dashboard at 200 concurrent clients while a campaign runs.

    Measured twice: clients that ask again the moment they have an answer (the most
    the api serves, and the latency at that saturation), and clients that ask once a
    second, as an open dashboard or ``campaignctl --follow`` polls.
    """
    clients, seconds = (20, 2.0) if smoke else (200, 15.0)
    with bench.system(sender_replicas=1, **limits(100)) as system, system.client() as client:
        bench.faults(mps=1_000_000)
        campaign_id = create_and_start(client, "under load", 5_000)
        at_once = asyncio.run(_hammer(system.api_url, campaign_id, clients, seconds, None))
        polling = asyncio.run(_hammer(system.api_url, campaign_id, clients, seconds, 1.0))
        client.post(f"/api/campaigns/{campaign_id}/queue-stop").raise_for_status()
    return {"clients": clients, **at_once, "polling_every_s": 1.0, "polling": polling}


async def _hammer(
    api_url: str, campaign_id: str, clients: int, seconds: float, interval_s: float | None
) -> dict:
    """Half the clients on queue-status, half on the dashboard; each asks again at once
    (``interval_s`` None) or that long after its previous question began."""
    paths = [
        f"/api/campaigns/{campaign_id}/queue-status",
        "/api/dashboard/campaign-queue-metrics",
    ]
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits_ = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        base_url=api_url, headers=headers, limits=limits_, timeout=30
    ) as client:

        async def one_client(index: int) -> None:
            nonlocal errors
            path = paths[index % 2]
            if interval_s:  # spread the clients over the interval, as real ones are
                await asyncio.sleep(interval_s * index / clients)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get(path)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - started
                if ok:
                    latencies.append(elapsed * 1000)
                else:
                    errors += 1
                if interval_s:
                    await asyncio.sleep(max(0.0, interval_s - elapsed))

        await asyncio.gather(*(one_client(i) for i in range(clients)))
    return {
        "requests": len(latencies) + errors,
        "requests_per_s": round((len(latencies) + errors) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "errors": errors,
    }


def scale(bench: Bench, smoke: bool) -> dict:
    """A million contacts: time to accept the start, to the first message, the pace of
    the whole pipeline at capacity, peak RSS of every service, largest backlog."""
    contacts = 5_000 if smoke else 1_000_000
    watch_s = 5 if smoke else 30
    with bench.system(sender_replicas=2, **UNLIMITED) as system, system.client() as client:
        bench.faults(mps=1_000_000)
        # Stored as the api stores an imported audience: a million contacts in one JSON
        # request body is not how anyone creates such a campaign.
        asyncio.run(seed_campaign(system.env, "scale", contacts))
        pids = {name: system.table.get(name).pid for name in system.names()}
        start_sent_ms = int(time.time() * 1000)
        begun = time.monotonic()
        client.post("/api/campaigns/scale/start").raise_for_status()
        accepted_s = time.monotonic() - begun
        answered_ms = time.time() * 1000
        first = wait_until(lambda: bench.ledger_times(start_sent_ms), 60, "first message")[0]
        peak = dict.fromkeys(pids, 0.0)
        backlog = 0
        processed_before = progress(client, "scale")["progress"]["processed"]
        watch_start = time.monotonic()
        finished = False
        # A small (smoke) audience may finish inside the watch: the pace is then taken
        # up to the end, and there is nothing left to stop.
        while time.monotonic() < watch_start + watch_s and not finished:
            for name, pid in pids.items():
                peak[name] = max(peak[name], rss_mb(pid))
            backlog = max(backlog, asyncio.run(commands_backlog(system.env)))
            counts = progress(client, "scale")["progress"]
            finished = counts["processed"] >= contacts
            time.sleep(0.5)
        processed = progress(client, "scale")["progress"]["processed"] - processed_before
        pace = processed / (time.monotonic() - watch_start)
        if not finished:
            stopped = client.post("/api/campaigns/scale/queue-stop")
            if stopped.status_code != 409:  # 409: it completed between the check and here
                stopped.raise_for_status()
    return {
        "contacts": contacts,
        "start_answer_s": round(accepted_s, 3),
        "first_message_after_answer_ms": round(first - answered_ms, 1),
        "contacts_per_s_at_capacity": round(pace, 1),
        "whole_audience_at_that_pace_s": round(contacts / pace, 1) if pace else None,
        "peak_rss_mb": {name: round(value, 1) for name, value in sorted(peak.items())},
        "largest_backlog_records": backlog,
    }


def profile(bench: Bench, smoke: bool) -> dict:
    """py-spy on one sender during a capacity run (0 ms, one replica): the hottest frames."""
    messages = 300 if smoke else 20_000
    output = bench.run_dir / "sender-profile.txt"
    with bench.system(sender_replicas=1, **UNLIMITED, TWILIO_MAX_CONCURRENT="200") as system:
        bench.faults(mps=1_000_000)
        sender_pid = system.table.get("sender-0").pid
        spy = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(sender_pid),
             "--format", "raw", "--rate", "200", "--output", str(output), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            with system.client() as client:
                campaign_id = create_and_start(client, "profiled", messages)
                wait_done(client, campaign_id, timeout_s=600)
        finally:
            spy.send_signal(signal.SIGINT)
            _, errors = spy.communicate(timeout=60)
    if not output.exists():
        return {"error": f"py-spy wrote nothing: {errors.strip()[-300:]}", "samples": 0}
    return hottest_frames(output.read_text())


def hottest_frames(collapsed: str, top: int = 5) -> dict:
    """From py-spy's collapsed stacks: frames by samples spent in them (self) and under
    them (total), ours (services/, shared/) told apart from libraries'."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    ours = Counter({f: n for f, n in total.items() if "services/" in f or "shared/" in f})
    return {
        "samples": samples,
        "hottest_self": [[frame, count] for frame, count in own.most_common(top)],
        "hottest_own_code_total": [[frame, count] for frame, count in ours.most_common(top + 4)],
    }


SCENARIOS = {
    "rate_precision": rate_precision,
    "pipeline_capacity": pipeline_capacity,
    "scale": scale,
    "control_latency": control_latency,
    "api_under_load": api_under_load,
    "profile": profile,
}
