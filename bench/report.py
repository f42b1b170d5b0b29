"""BENCHMARKS.md from a run's results: each figure beside its goal, met or not."""

from __future__ import annotations

from pathlib import Path

NOTES = Path(__file__).with_name("notes.md")


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def _span(values: list[float]) -> str:
    """``low–high`` of some figures, or the one figure when they agree."""
    low, high = min(values, default=0.0), max(values, default=0.0)
    return f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}"


def goals(results: dict) -> list[tuple[str, str, str, bool]]:
    """(scenario, figure, goal, met) rows."""
    rows = []
    rate = results.get("rate_precision")
    if rate:
        rows.append(
            (
                "rate precision",
                f"{rate['ratio']:.3f} of the allowed rate",
                "≥ 0.98",
                rate["ratio"] >= 0.98,
            )
        )
        rows.append(
            (
                "rate precision",
                f"{rate['most_in_any_second']} sends in the busiest second",
                "never above 10",
                rate["most_in_any_second"] <= 10,
            )
        )
        rows.append(
            (
                "rate precision",
                f"{rate['answers_429']} answers 429",
                "0",
                rate["answers_429"] == 0,
            )
        )
    capacity = results.get("pipeline_capacity")
    if capacity:
        runs = capacity["runs"]
        for latency_ms, goal in ((0, 1_500), (100, 1_200)):
            at = [r for r in runs if r["latency_ms"] == latency_ms]
            if not at:
                continue
            best = max(at, key=lambda r: r["messages_per_s"])
            rows.append(
                (
                    "pipeline capacity",
                    f"{best['messages_per_s']:,.0f} msg/s at {latency_ms} ms "
                    f"({best['sender_replicas']} sender replica(s), the best count)",
                    f"≥ {goal:,} msg/s",
                    best["messages_per_s"] >= goal,
                )
            )
        ours = [r["cpu_ms_per_message"]["ours"] for r in runs]
        services = ", ".join(
            f"{name} {_span([r['cpu_ms_per_message'][name] for r in runs])}"
            for name in ("api", "dispatcher", "metrics", "senders")
        )
        sandbox = [
            r["infrastructure_cpu_ms_per_message"]["twilio_sandbox"]
            for r in runs
            if "twilio_sandbox" in r["infrastructure_cpu_ms_per_message"]
        ]
        apart = f"; the sandbox {_span(sandbox)} apart" if sandbox else ""
        rows.append(
            (
                "CPU per message",
                f"our services {_span(ours)} CPU ms per message in the capacity runs "
                f"({services}){apart}",
                "≤ 0.6 ms (0.6 CPU s per 1,000 messages) in every run",
                max(ours) <= 0.6,
            )
        )
    scale = results.get("scale")
    if scale:
        rows.append(
            (
                "scale",
                f"first message {scale['first_message_after_answer_ms']:.0f} ms after the answer",
                "< 1 s",
                scale["first_message_after_answer_ms"] < 1_000,
            )
        )
        peak = max(scale["peak_rss_mb"].values())
        rows.append(
            ("scale", f"largest RSS {peak:.0f} MB", "< 300 MB for every service", peak < 300)
        )
    imported = results.get("contacts_import")
    if imported:
        rows.append(
            (
                "contacts import",
                f"{imported['rows']:,} contacts by CSV ({imported['file_mb']:.0f} MB) in "
                f"{imported['seconds']:.1f} s ({imported['rows_per_s']:,} rows/s), "
                f"{imported['errors']} row errors; the api's largest RSS "
                f"{imported['api_peak_rss_mb']:.0f} MB",
                "< 60 s; RSS < 300 MB",
                imported["seconds"] < 60
                and imported["errors"] == 0
                and imported["api_peak_rss_mb"] < 300,
            )
        )
        if "campaign_from_list_s" in imported:
            rows.append(
                (
                    "campaign from a list",
                    f"a campaign to the imported list of {imported['added_to_list']:,}: "
                    f"{imported['campaign_contacts']:,} recipients frozen and checked in "
                    f"{imported['campaign_from_list_s']:.1f} s; the api's largest RSS "
                    f"{imported['campaign_api_peak_rss_mb']:.0f} MB",
                    "reported; RSS < 300 MB",
                    imported["campaign_contacts"] == imported["added_to_list"]
                    and imported["campaign_api_peak_rss_mb"] < 300,
                )
            )
    export = results.get("recipients_export")
    if export:
        rows.append(
            (
                "recipients export",
                f"{export['rows']:,} recipients as CSV in {export['seconds']:.1f} s "
                f"({export['rows_per_s']:,} rows/s), streamed; the api's largest RSS "
                f"{export['api_peak_rss_mb']:.0f} MB",
                "< 60 s; RSS < 300 MB",
                export["rows"] == export["recipients"]
                and export["seconds"] < 60
                and export["api_peak_rss_mb"] < 300,
            )
        )
    memory = results.get("audience_memory")
    if memory:
        now = memory["redis_bytes_for_the_audience_now"] / 1e6
        earlier = memory["redis_bytes_as_earlier_versions_kept_it"] / 1e6
        rows.append(
            (
                "audience memory",
                f"Redis memory for a {memory['contacts']:,}-contact campaign's audience: "
                f"{now:.1f} MB (in PostgreSQL), against {earlier:.0f} MB as a Redis list",
                "reported",
                True,
            )
        )
    control = results.get("control_latency")
    if control:
        rows.append(
            (
                "control latency",
                f"p99 {control['p99_ms']:.0f} ms (p50 {control['p50_ms']:.0f} ms)",
                "p99 < 500 ms",
                control["p99_ms"] < 500,
            )
        )
    load = results.get("api_under_load")
    if load:
        wrk = load["wrk"]["queue_status"]
        errors = wrk["socket_errors"] + wrk["non_2xx"]
        rows.append(
            (
                "API under load",
                f"queue-status, wrk -c{wrk['connections']} closed loop: "
                f"{wrk['requests_per_s']:,.0f} requests/s, p99 {wrk['p99_ms']:.0f} ms "
                f"(p50 {wrk['p50_ms']:.0f} ms), {errors} errors",
                "≥ 1,484 requests/s (2 × 742), no errors",
                wrk["requests_per_s"] >= 1_484 and errors == 0,
            )
        )
        for name, label, goal_ms in (
            ("queue_status", "queue-status", 20),
            ("dashboard", "dashboard", 50),
        ):
            polled = load["polling"][name]
            rows.append(
                (
                    "API under load",
                    f"{label}, {load['clients']} clients polling every "
                    f"{load['polling_every_s']:g} s (both endpoints): p99 "
                    f"{polled['p99_ms']:.0f} ms (p50 {polled['p50_ms']:.0f} ms), "
                    f"{polled['errors']} errors",
                    f"p99 < {goal_ms} ms, no errors",
                    polled["p99_ms"] < goal_ms and polled["errors"] == 0,
                )
            )
    return rows


def _reference(reference: dict | None) -> list[str]:
    """The Node queue's section: the machine's pace in this sitting, no goal of ours."""
    if not reference:
        return []
    lines = ["", "## Reference: a one-job-per-message Node queue (BullMQ)", ""]
    if reference.get("skipped"):
        return [*lines, f"Skipped: {reference['skipped']}."]
    lines += [
        f"BullMQ {reference['bullmq']} on Node {reference['node']} "
        "([bench/reference/queue.mjs](bench/reference/queue.mjs)), one job and one request",
        "per message, on the same Redis and sandbox and nothing of ours: the yardstick for",
        "how fast the machine is in this sitting (an earlier sitting, 20,000 messages a run,",
        "gave 2,034–2,251 / 2,040–2,256 msg/s at 0 ms with concurrency 50 / 200 and",
        "467 / 1,605–1,611 at 100 ms). CPU in ms per message, node's and, apart, the",
        "sandbox's and Redis's.",
        "",
        "| Twilio latency | concurrency | messages | msg/s | node CPU ms/msg | sandbox | Redis |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in reference["runs"]:
        other = run["infrastructure_cpu_ms_per_message"]
        lines.append(
            f"| {run['latency_ms']} ms | {run['concurrency']} | {run['messages']} | "
            f"{run['messages_per_s']} | {run['cpu_ms_per_message']['node']} | "
            f"{other.get('twilio_sandbox', '–')} | {other.get('redis', '–')} |"
        )
    failed = sum(run["failed"] for run in reference["runs"])
    if failed:
        lines += ["", f"{failed} of its jobs failed: its pace is not the machine's alone."]
    return lines


def render(results: dict, machine: dict) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` on the local stack (real Kafka, Redis, the Twilio sandbox,",
        "every service a separate process). Rewritten by each run; the raw figures are in",
        "[bench/results.json](bench/results.json).",
        "",
        f"- Machine: {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['python']}",
        f"- Commit: `{machine['commit']}`, {machine['date']}",
        f"- Took {machine['seconds']:.0f} s",
        "",
        "## Goals",
        "",
        "| scenario | measured | goal | |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {s} | {figure} | {goal} | {_verdict(met)} |" for s, figure, goal, met in goals(results)
    ]
    rate = results.get("rate_precision")
    if rate:
        lines += [
            "",
            "## Rate precision: from a limiter log entry to Twilio's acceptance",
            "",
            "The limiter widens each window by LIMITER_MARGIN_MS, which must cover how much",
            "this delay varies from send to send (its spread), not the delay itself. An",
            "entry is a grant, moved to when its request went where that was later.",
            "",
        ]
        if delays := rate.get("grant_to_acceptance_ms"):
            spread = f"spread {delays['spread']} ms"
            lines += [f"- p50 {delays['p50']} ms, p99 {delays['p99']} ms, {spread}"]
        else:
            lines += ["- not measured: the log holds more grants than Twilio accepted"]
        if (closest := rate.get("closest_11_acceptances_ms")) is not None:
            lines += [
                f"- the 11 acceptances closest together took {closest} ms: under 1,000 the",
                f"  11th would have been a 429, so the run kept {closest - 1000} ms from one",
            ]
    capacity = results.get("pipeline_capacity")
    if capacity:
        lines += [
            "",
            "## Pipeline capacity",
            "",
            "End to end, from the start request to the last result folded. CPU in ms per",
            "message (the same number as CPU s per 1,000 messages), from each process's",
            "user and system time over the run (a process's children included). The",
            "sandbox, Kafka, Redis and PostgreSQL are not ours: their CPU is apart, and not in",
            '"ours".',
            "",
            "| Twilio latency | sender replicas | messages | msg/s | api | dispatcher | metrics "
            "| senders | ours | sandbox | Kafka | Redis | PostgreSQL |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for run in capacity["runs"]:
            cpu = run["cpu_ms_per_message"]
            other = run["infrastructure_cpu_ms_per_message"]
            each = [v for k, v in cpu.items() if k.startswith("sender-")]
            senders = f"{cpu['senders']}" + (
                f" ({' + '.join(str(v) for v in each)})" if len(each) > 1 else ""
            )
            apart = [other.get(k, "–") for k in ("twilio_sandbox", "kafka", "redis", "postgres")]
            lines.append(
                f"| {run['latency_ms']} ms | {run['sender_replicas']} | {run['messages']} | "
                f"{run['messages_per_s']} | {cpu['api']} | {cpu['dispatcher']} | "
                f"{cpu['metrics']} | {senders} | **{cpu['ours']}** | "
                + " | ".join(str(v) for v in apart)
                + " |"
            )
        redis_rows = [run for run in capacity["runs"] if "redis_commands_per_message" in run]
        if redis_rows:
            lines += [
                "",
                "Redis commands per message in the same runs (INFO commandstats; a",
                "script's own calls counted under their names, its EVALSHA apart):",
                "",
                "| Twilio latency | sender replicas | commands | scripts | most called |",
                "| --- | --- | --- | --- | --- |",
            ]
            for run in redis_rows:
                work = run["redis_commands_per_message"]
                busiest = ", ".join(f"{name} {calls}" for name, calls in work["busiest"])
                lines.append(
                    f"| {run['latency_ms']} ms | {run['sender_replicas']} | {work['all']} | "
                    f"{work['scripts']} | {busiest} |"
                )
    lines += _reference(results.get("node_reference"))
    scale = results.get("scale")
    if scale:
        rss = ", ".join(f"{k} {v}" for k, v in scale["peak_rss_mb"].items())
        lines += [
            "",
            "## Scale",
            "",
            f"- {scale['contacts']:,} contacts; the start answered in {scale['start_answer_s']} s",
            f"- pace at capacity: {scale['contacts_per_s_at_capacity']} contacts/s, so the whole "
            f"audience in about {scale['whole_audience_at_that_pace_s']} s",
            f"- largest message.commands backlog: {scale['largest_backlog_records']} records",
            f"- peak RSS (MB, each service's largest process): {rss}",
        ]
    load = results.get("api_under_load")
    if load:
        lines += [
            "",
            "## API under load",
            "",
            f"While a campaign runs at {load['campaign_rate_per_s']} msg/s.",
            "",
            f"- Polling: {load['clients']} clients, half on each endpoint, each asking every "
            f"{load['polling_every_s']:g} s, for {load['seconds']:g} s. A client's first "
            "request also opens its connection, which a polling page then keeps: it is "
            "counted apart (p99 of first requests in the last column), not in p50 and p99.",
            f"- Closed loop: `wrk -c{load['clients']}` on one endpoint at a time for "
            f"{load['seconds']:g} s, every connection asking again the moment it has its answer.",
            "",
            "| endpoint | clients | requests/s | p50 ms | p99 ms | errors | first request p99 ms |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, label in (("queue_status", "queue-status"), ("dashboard", "dashboard")):
            polled = load["polling"][name]
            lines.append(
                f"| {label} | polling every {load['polling_every_s']:g} s | "
                f"{polled['requests_per_s']} | {polled['p50_ms']} | {polled['p99_ms']} | "
                f"{polled['errors']} | {polled.get('first_p99_ms', '')} |"
            )
        for name, label in (("queue_status", "queue-status"), ("dashboard", "dashboard")):
            wrk = load["wrk"][name]
            lines.append(
                f"| {label} | wrk closed loop | {wrk['requests_per_s']} | {wrk['p50_ms']} | "
                f"{wrk['p99_ms']} | {wrk['socket_errors'] + wrk['non_2xx']} | |"
            )
    profile = results.get("profile")
    if profile:
        lines += [
            "",
            "## Profiles (py-spy, capacity run at 0 ms, one sender)",
            "",
            f"Each service sampled at {profile['rate_hz']} Hz, all at once (the api's worker "
            "processes together), idle stacks left out,",
            f"during {profile['messages']:,} messages ({profile['messages_per_s']} msg/s under "
            "the profilers).",
        ]
        for name, figures in profile["services"].items():
            lines += ["", f"### {name}", ""]
            if not figures.get("samples"):
                lines.append(f"Profile: {figures.get('error', 'no samples')}")
                continue
            lines += [f"{figures['samples']} samples. Where the time went (the frame itself):", ""]
            lines += [f"1. `{frame}`: {count}" for frame, count in figures["hottest_self"][:5]]
            lines += ["", "Our own code, by samples under each frame:", ""]
            # The entry points hold every sample: what is under them says more.
            entry = ("__main__", "shared/runtime.py")
            own = [
                f for f in figures["hottest_own_code_total"] if not any(e in f[0] for e in entry)
            ]
            lines += [f"1. `{frame}`: {count}" for frame, count in own[:5]]
    if NOTES.exists():
        lines += ["", NOTES.read_text().strip()]
    return "\n".join(lines) + "\n"
