"""The scenarios of BENCHMARKS.md, each returning its figures as a dict.

Sizes shrink in smoke mode (`make test` runs it to prove every scenario still
produces its numbers); the figures of a smoke run mean nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from bench.harness import (
    UNLIMITED,
    Bench,
    commands_backlog,
    cpu_per_message,
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
from bench.records import audience_memory, contacts_import, recipients_export
from bench.reference import node_reference
from devstack.debian import ensure_wrk
from devstack.system import TOKEN


def _most_in_any_second(times_ms: list[int]) -> int:
    return max(
        (bisect.bisect_left(times_ms, t + 1_000) - i for i, t in enumerate(times_ms)), default=0
    )


def _closest_span_ms(times_ms: list[int], sends: int) -> int | None:
    """The shortest time any ``sends`` consecutive acceptances took: one more than the
    limit inside a second is a 429, so this less 1,000 ms is how near one came."""
    spans = [times_ms[i + sends - 1] - times_ms[i] for i in range(len(times_ms) - sends + 1)]
    return min(spans, default=None)


def rate_precision(bench: Bench, smoke: bool) -> dict:
    """3 replicas at the default limits (10/s): how close to the limit, never above it."""
    messages = 30 if smoke else 600
    with bench.system(sender_replicas=3) as system, system.client() as client:
        campaign_id = create_and_start(client, "rate precision", messages)
        wait_done(client, campaign_id, timeout_s=messages / 5 + 60)
        grants = system.limiter_grant_times()
    times = bench.ledger_times()
    span_s = (times[-1] - times[0]) / 1000
    achieved = (len(times) - 1) / span_s if span_s else 0.0
    # The limiter's margin must cover how much the delay from a log entry (a grant, moved
    # to when its send went if that was later) to Twilio's acceptance varies: the n-th
    # entry went out as the n-th send (10/s keeps them in order), so the spread of the
    # n-th acceptance minus the n-th entry is that variation.
    delays = [accepted - granted for granted, accepted in zip(grants, times, strict=False)]
    return {
        "grant_to_acceptance_ms": {
            "p50": round(percentile(delays, 0.5), 1),
            "p99": round(percentile(delays, 0.99), 1),
            "spread": round(max(delays) - min(delays), 1),
        }
        if len(grants) == len(times) and delays
        else None,
        "messages": len(times),
        "achieved_per_s": round(achieved, 3),
        "allowed_per_s": 10,
        "ratio": round(achieved / 10, 4),
        "most_in_any_second": _most_in_any_second(times),
        "closest_11_acceptances_ms": _closest_span_ms(times, 11),
        "answers_429": bench.sandbox.get("/_sandbox/stats").json()["responses"].get("429", 0),
    }


def pipeline_capacity(bench: Bench, smoke: bool) -> dict:
    """End-to-end messages per second, from the start request to the last result folded,
    and CPU milliseconds per message of each process: ours (api, dispatcher, metrics,
    each sender) and, apart, the sandbox's, Kafka's and Redis's."""
    messages = 300 if smoke else 20_000
    runs = []
    for latency_ms in (0, 100):
        for replicas in (1,) if smoke else (1, 2, 3):
            env = {**UNLIMITED, "TWILIO_MAX_CONCURRENT": "200"}
            with bench.system(sender_replicas=replicas, **env) as system, system.client() as client:
                bench.faults(mps=1_000_000, latency_ms=latency_ms)
                ours = {name: system.table.get(name).pid for name in system.names()}
                theirs = bench.infrastructure_pids()
                pids = {**ours, **theirs}
                cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                redis_before = bench.redis_command_calls()
                started = time.monotonic()
                campaign_id = create_and_start(client, "capacity", messages)
                wait_done(client, campaign_id, timeout_s=600)
                elapsed = time.monotonic() - started
                cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
                redis_after = bench.redis_command_calls()
            runs.append(
                {
                    "latency_ms": latency_ms,
                    "sender_replicas": replicas,
                    "messages": messages,
                    "seconds": round(elapsed, 2),
                    "messages_per_s": round(messages / elapsed, 1),
                    **cpu_per_message(cpu, set(ours), messages),
                    "redis_commands_per_message": redis_per_message(
                        redis_before, redis_after, messages
                    ),
                }
            )
    return {"runs": runs}


def redis_per_message(before: dict[str, int], after: dict[str, int], messages: int) -> dict:
    """Redis commands a message cost: all of them (a script's own calls included, as
    Redis counts them), the scripts run, and the commands sent from outside a script."""
    ran = {name: calls - before.get(name, 0) for name, calls in after.items()}
    scripts = sum(ran.get(name, 0) for name in ("evalsha", "eval", "fcall"))
    # INFO commandstats has no "called from a script" split: a script's own calls are
    # counted under their names. Reported: everything, and the scripts apart.
    total = sum(ran.values())
    return {
        "all": round(total / messages, 2),
        "scripts": round(scripts / messages, 3),
        "busiest": sorted(
            ((name, round(calls / messages, 2)) for name, calls in ran.items() if calls),
            key=lambda item: -item[1],
        )[:5],
    }


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
    """queue-status and the dashboard while a campaign runs at the default rate (10/s),
    the api with its default worker count (one per core).

    Measured twice: clients that ask once a second, as an open dashboard or
    ``campaignctl --follow`` polls (half on each endpoint, each endpoint's latency
    apart); then wrk's closed loop on each endpoint alone (every connection asks again
    the moment it has an answer: the most the api serves, and the latency there).
    """
    clients, seconds = (20, 2.0) if smoke else (200, 15.0)
    wrk = ensure_wrk()
    workers = str(len(os.sched_getaffinity(0)))
    with bench.system(sender_replicas=1, API_WORKERS=workers) as system, system.client() as client:
        bench.faults(mps=1_000_000)
        campaign_id = create_and_start(client, "under load", 500 if smoke else 10_000)
        paths = {
            "queue_status": f"/api/campaigns/{campaign_id}/queue-status",
            "dashboard": "/api/dashboard/campaign-queue-metrics",
        }
        polling = asyncio.run(_poll(system.api_url, paths, clients, seconds, 1.0))
        closed_loop = {
            name: run_wrk(wrk, system.api_url + path, clients, seconds)
            for name, path in paths.items()
        }
        stopped = client.post(f"/api/campaigns/{campaign_id}/queue-stop")
        if stopped.status_code != 409:  # 409: it completed already
            stopped.raise_for_status()
    return {
        "clients": clients,
        "seconds": seconds,
        "campaign_rate_per_s": 10,
        "api_workers": int(workers),
        "polling_every_s": 1.0,
        "polling": polling,
        "wrk": closed_loop,
    }


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off (and what exists already frozen out of
    its reach) for the duration: a short load run allocates little that lives."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def _poll(
    api_url: str, paths: dict[str, str], clients: int, seconds: float, interval_s: float
) -> dict:
    """The clients spread over ``paths`` in turn; each asks ``interval_s`` after its
    previous question began (at once, when that took longer). Figures per path.

    A client's first question also opens its connection, which a polling dashboard
    then keeps: those are counted apart (``first_p99_ms``), not in the steady state."""
    latencies: dict[str, list[float]] = {name: [] for name in paths}
    first_latencies: dict[str, list[float]] = {name: [] for name in paths}
    errors = dict.fromkeys(paths, 0)
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {TOKEN}"}
    names = list(paths)
    # 200 dashboards are 200 browsers, not one process: this one's garbage collector
    # would pause all of them at once, and a 25-100 ms pause of the client, not of the
    # api, was the whole p99 (a trace of the slow answers showed them ending together).
    # aiohttp, not httpx: in a slow sitting httpx's pool of 200 connections kept this
    # one process so busy that it asked 63 times a second instead of 200 and its own
    # queueing was the figure (p50 1.6 s, while wrk found the api serving 725 requests
    # a second); aiohttp, same api, same sitting: 99 a second an endpoint, p50 6 ms.
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    with _collector_paused():
        async with aiohttp.ClientSession(
            base_url=api_url, headers=headers, connector=connector, timeout=timeout
        ) as client:

            async def one_client(index: int) -> None:
                name = names[index % len(names)]
                # Spread the clients over the interval, as real ones are.
                await asyncio.sleep(interval_s * index / clients)
                first = True
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    try:
                        async with client.get(paths[name]) as response:
                            await response.read()
                            ok = response.status == 200
                    except (aiohttp.ClientError, TimeoutError):
                        ok = False
                    elapsed = time.perf_counter() - started
                    if not ok:
                        errors[name] += 1
                    elif first:
                        first_latencies[name].append(elapsed * 1000)
                    else:
                        latencies[name].append(elapsed * 1000)
                    first = False
                    await asyncio.sleep(max(0.0, interval_s - elapsed))

            await asyncio.gather(*(one_client(i) for i in range(clients)))
    return {
        name: {
            "requests": len(latencies[name]) + len(first_latencies[name]) + errors[name],
            "requests_per_s": round(
                (len(latencies[name]) + len(first_latencies[name]) + errors[name]) / seconds, 1
            ),
            "first_p99_ms": round(percentile(first_latencies[name], 0.99), 1),
            "p50_ms": round(percentile(latencies[name], 0.5), 1),
            "p99_ms": round(percentile(latencies[name], 0.99), 1),
            "errors": errors[name],
        }
        for name in paths
    }


def run_wrk(wrk: str, url: str, connections: int, seconds: float) -> dict:
    """wrk's closed loop on one url with the bearer token: requests a second, latency
    percentiles, and errors (socket errors and answers other than 2xx/3xx)."""
    threads = min(connections, os.cpu_count() or 1)
    finished = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
         "--latency", "-H", f"Authorization: Bearer {TOKEN}", url],
        capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed: {finished.stderr.strip()[-300:]}")
    try:
        figures = parse_wrk(finished.stdout)
    except (KeyError, AttributeError) as error:
        # One full run ended here on a report without its 99% line: keep what wrk said.
        raise RuntimeError(f"wrk's report lacks {error}:\n{finished.stdout[-2000:]}") from error
    return figures | {"connections": connections, "seconds": seconds}


_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()
    return round(float(number) * _WRK_UNITS_MS[unit], 2)


def parse_wrk(output: str) -> dict:
    """The figures of ``wrk --latency``'s report."""
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.MULTILINE))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "requests_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), 1),
        "p50_ms": _wrk_ms(percentiles["50"]),
        "p90_ms": _wrk_ms(percentiles["90"]),
        "p99_ms": _wrk_ms(percentiles["99"]),
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
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


PROFILED = ("api", "dispatcher", "metrics", "sender-0")
PROFILE_RATE_HZ = 100


def until_sampling(spy: subprocess.Popen, said: Path, timeout_s: float = 30) -> None:
    """Waits until py-spy says it samples, or exits, or the deadline passes. It says so
    on standard output (reading standard error alone waited out the whole deadline for
    every spy), and both go to the file ``said``, which a long run cannot fill as it
    would a pipe nobody reads."""

    def sampling_or_gone() -> bool:
        return spy.poll() is not None or "Sampling process" in said.read_text("utf-8", "replace")

    with contextlib.suppress(TimeoutError):  # a spy that never says it still runs
        wait_until(sampling_or_gone, timeout_s, "py-spy sampling")


def profile(bench: Bench, smoke: bool) -> dict:
    """py-spy on the api, the dispatcher, metrics and the one sender at once, during a
    capacity run (0 ms, one replica): each one's hottest frames. Idle stacks (waiting in
    the event loop's select) are left out, so samples count where CPU was spent."""
    messages = 300 if smoke else 20_000
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    outputs = {name: bench.run_dir / f"profile-{name}.txt" for name in PROFILED}
    said = {name: bench.run_dir / f"py-spy-{name}.log" for name in PROFILED}
    spies: dict[str, subprocess.Popen] = {}
    with bench.system(sender_replicas=1, **UNLIMITED, TWILIO_MAX_CONCURRENT="200") as system:
        bench.faults(mps=1_000_000)
        try:
            for name in PROFILED:
                argv = [py_spy, "record", "--pid", str(system.table.get(name).pid),
                        "--format", "raw", "--rate", str(PROFILE_RATE_HZ),
                        "--output", str(outputs[name]), "--nonblocking"]  # fmt: skip
                if name == "api":  # its worker processes, when it runs several
                    argv.append("--subprocesses")
                with said[name].open("w") as output:
                    spies[name] = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
            # A short run could end before a spy attached (seconds on a busy machine),
            # and a spy stopped before it samples writes nothing.
            for name, spy in spies.items():
                until_sampling(spy, said[name])
            with system.client() as client:
                started = time.monotonic()
                campaign_id = create_and_start(client, "profiled", messages)
                wait_done(client, campaign_id, timeout_s=600)
                elapsed = time.monotonic() - started
        finally:
            for spy in spies.values():
                spy.send_signal(signal.SIGINT)
            for spy in spies.values():
                spy.wait(timeout=60)
    services = {}
    for name, output in outputs.items():
        if output.exists():
            services[name] = hottest_frames(output.read_text())
        else:
            message = said[name].read_text(errors="replace").strip()[-300:]
            services[name] = {"error": f"py-spy wrote nothing: {message}", "samples": 0}
    return {
        "messages": messages,
        "messages_per_s": round(messages / elapsed, 1),
        "rate_hz": PROFILE_RATE_HZ,
        "services": services,
    }


_PROCESS_FRAME = re.compile(r'process \d+:"')


def hottest_frames(collapsed: str, top: int = 5, own_top: int = 12) -> dict:
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
        # py-spy names the process first when it follows subprocesses: not a frame.
        frames = [f for f in stack.split(";") if not _PROCESS_FRAME.match(f)]
        if not frames:
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    ours = Counter({f: n for f, n in total.items() if "services/" in f or "shared/" in f})
    return {
        "samples": samples,
        "hottest_self": [[frame, count] for frame, count in own.most_common(top)],
        "hottest_own_code_total": [[frame, count] for frame, count in ours.most_common(own_top)],
    }


SCENARIOS = {
    "rate_precision": rate_precision,
    "pipeline_capacity": pipeline_capacity,
    # Beside the capacity runs, so that both see the machine in the same minutes.
    "node_reference": node_reference,
    "scale": scale,
    "contacts_import": contacts_import,
    "audience_memory": audience_memory,
    "recipients_export": recipients_export,
    "control_latency": control_latency,
    "api_under_load": api_under_load,
    "profile": profile,
}
