"""`make bench` in smoke mode: every scenario still runs and produces its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.report import render
from bench.scenarios import PROFILED, SCENARIOS, hottest_frames, parse_wrk

REPO = Path(__file__).resolve().parents[2]


def _numbers(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


def test_every_scenario_produces_numbers(stack, tmp_path: Path) -> None:
    results_path = tmp_path / "results.json"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "REDIS_URL": stack.redis_url,
        "SANDBOX_URL": stack.sandbox_url,
    }
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--results", str(results_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    document = json.loads(results_path.read_text())
    assert document["smoke"] is True
    assert set(document["results"]) == set(SCENARIOS)
    for name, figures in document["results"].items():
        if name == "node_reference" and figures.get("skipped"):
            continue  # a CI whose npm cannot reach its registry: skipped, the reason given
        assert _numbers(figures), f"{name} produced no number"
        assert all(run.get("failed", 0) == 0 for run in figures.get("runs", [])), name
    assert document["machine"]["cores"] >= 1
    results = document["results"]
    rate = results["rate_precision"]
    # The closest 11 acceptances and the busiest second say the same thing two ways.
    assert (rate["closest_11_acceptances_ms"] >= 1_000) == (rate["most_in_any_second"] <= 10)
    _check_cpu_per_message(results["pipeline_capacity"])
    _check_api_under_load(results["api_under_load"])
    _check_profiles(results["profile"])
    report = render(results, document["machine"])
    headings = ("## Goals", "## Rate precision", "## Pipeline capacity", "## Reference")
    headings = (*headings, "## API under load")
    for heading in (*headings, "### sender-0"):
        assert heading in report


def _check_cpu_per_message(capacity: dict) -> None:
    """Each of our processes, the senders and all of ours summed; the sandbox apart."""
    for run in capacity["runs"]:
        cpu = run["cpu_ms_per_message"]
        senders = [f"sender-{n}" for n in range(run["sender_replicas"])]
        assert {"api", "dispatcher", "metrics", *senders, "senders", "ours"} <= set(cpu)
        assert all(value >= 0 for value in cpu.values())
        ours = cpu["api"] + cpu["dispatcher"] + cpu["metrics"] + cpu["senders"]
        assert abs(cpu["ours"] - ours) < 0.01
        assert cpu["ours"] > 0
        assert "twilio_sandbox" in run["infrastructure_cpu_ms_per_message"]


def _check_api_under_load(load: dict) -> None:
    """Polling figures per endpoint; wrk's closed loop on each endpoint."""
    for endpoint in ("queue_status", "dashboard"):
        assert load["polling"][endpoint]["requests"] > 0
        assert load["polling"][endpoint]["p99_ms"] > 0
        closed_loop = load["wrk"][endpoint]
        assert closed_loop["requests"] > 0
        assert closed_loop["requests_per_s"] > 0
        assert closed_loop["p99_ms"] > 0


def _check_profiles(profile: dict) -> None:
    """py-spy wrote a profile of every service it was pointed at, at the same time."""
    assert set(profile["services"]) == set(PROFILED)
    for name, figures in profile["services"].items():
        assert "error" not in figures, f"{name}: {figures['error']}"
        assert isinstance(figures["hottest_self"], list)
    assert profile["services"]["sender-0"]["samples"] > 0


WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:18937/x
  2 threads and 20 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    15.51ms   74.02ms 850.97ms   96.80%
    Req/Sec     1.04k   609.11     2.25k    74.19%
  Latency Distribution
     50%  812.00us
     75%    4.14ms
     90%   11.92ms
     99%    1.25s
  3241 requests in 2.03s, 1.61MB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 3
Requests/sec:   1596.27
Transfer/sec:    810.61KB
"""


def test_wrk_report_is_read() -> None:
    figures = parse_wrk(WRK_OUTPUT)
    assert figures == {
        "requests": 3241,
        "requests_per_s": 1596.3,
        "p50_ms": 0.81,
        "p90_ms": 11.92,
        "p99_ms": 1250.0,
        "socket_errors": 7,
        "non_2xx": 3,
    }


def test_profile_leaves_out_the_process_frame() -> None:
    collapsed = (
        'process 42:"python -m services.api";<module> (services/api/__main__.py:9);'
        "queue_status (services/api/campaigns.py:5);get (redis/client.py:3) 7\n"
        'process 43:"python -m services.api";<module> (services/api/__main__.py:9) 3\n'
    )
    figures = hottest_frames(collapsed)
    assert figures["samples"] == 10
    assert figures["hottest_self"][0] == ["get (redis/client.py:3)", 7]
    assert not any("process" in frame for frame, _ in figures["hottest_own_code_total"])
