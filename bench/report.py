"""BENCHMARKS.md from a run's results: each figure beside its goal, met or not."""

from __future__ import annotations

from pathlib import Path

NOTES = Path(__file__).with_name("notes.md")


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


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
    capacity = results.get("pipeline_capacity")
    if capacity:
        runs = capacity["runs"]
        best = max((r["messages_per_s"] for r in runs if r["latency_ms"] == 0), default=0.0)
        rows.append(
            (
                "pipeline capacity",
                f"{best:.0f} msg/s at 0 ms (best replica count)",
                "≥ 1,000 msg/s",
                best >= 1_000,
            )
        )
        for slow in (r for r in runs if r["latency_ms"] == 100):
            fast = next(
                (
                    r
                    for r in runs
                    if r["latency_ms"] == 0 and r["sender_replicas"] == slow["sender_replicas"]
                ),
                None,
            )
            if fast:
                kept = slow["messages_per_s"] / fast["messages_per_s"]
                rows.append(
                    (
                        "pipeline capacity",
                        f"{slow['sender_replicas']} replica(s), 100 ms: {kept:.0%} of 0 ms rate",
                        "no drop (≥ 90%)",
                        kept >= 0.9,
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
        rows.append(
            (
                "API under load",
                f"{load['clients']} clients asking again at once: p99 {load['p99_ms']:.0f} ms "
                f"(p50 {load['p50_ms']:.0f} ms), {load['requests_per_s']:.0f} requests/s, "
                f"{load['errors']} errors",
                "p99 < 50 ms, no errors",
                load["p99_ms"] < 50 and load["errors"] == 0,
            )
        )
        polling = load.get("polling")
        if polling:
            rows.append(
                (
                    "API under load",
                    f"{load['clients']} clients polling every {load['polling_every_s']:g} s: "
                    f"p99 {polling['p99_ms']:.0f} ms (p50 {polling['p50_ms']:.0f} ms), "
                    f"{polling['errors']} errors",
                    "p99 < 50 ms, no errors",
                    polling["p99_ms"] < 50 and polling["errors"] == 0,
                )
            )
    return rows


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
    capacity = results.get("pipeline_capacity")
    if capacity:
        lines += [
            "",
            "## Pipeline capacity",
            "",
            "| Twilio latency | sender replicas | messages | msg/s | CPU s per 1,000 messages |",
            "| --- | --- | --- | --- | --- |",
        ]
        for run in capacity["runs"]:
            cpu = ", ".join(f"{k} {v}" for k, v in run["cpu_s_per_1000"].items())
            lines.append(
                f"| {run['latency_ms']} ms | {run['sender_replicas']} | {run['messages']} | "
                f"{run['messages_per_s']} | {cpu} |"
            )
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
            f"- peak RSS (MB): {rss}",
        ]
    profile = results.get("profile")
    if profile and profile.get("samples"):
        lines += [
            "",
            "## Profile of one sender (py-spy, capacity run at 0 ms)",
            "",
            f"{profile['samples']} samples. Where the time went (the frame itself):",
            "",
        ]
        lines += [f"1. `{frame}`: {count}" for frame, count in profile["hottest_self"][:3]]
        lines += ["", "Our own code, by samples under each frame:", ""]
        # The entry points hold every sample: what is under them says more.
        entry = ("__main__", "shared/runtime.py")
        own = [f for f in profile["hottest_own_code_total"] if not any(e in f[0] for e in entry)]
        lines += [f"1. `{frame}`: {count}" for frame, count in own[:3]]
    elif profile:
        lines += ["", f"Profile: {profile.get('error', 'no samples')}"]
    if NOTES.exists():
        lines += ["", NOTES.read_text().strip()]
    return "\n".join(lines) + "\n"
