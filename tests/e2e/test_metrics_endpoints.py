"""Every service's /metrics, scraped before and after a campaign: the figures move."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import free_port
from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    invalid_phone,
    start,
    valid_phone,
    wait_finished,
)

SENT = 40
INVALID = 3


def scrape(health_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Sample name and labels -> value, from a service's /metrics."""
    text = httpx.get(health_url.replace("/health", "/metrics"), timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def test_each_service_reports_the_messages_that_flowed(make_system, sandbox_admin):
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    # The api serves /metrics on its own port, not beside /health on the API port.
    metrics_port = free_port()
    system = make_system(**FAST, api_metrics_port=metrics_port)
    urls = {**system.health_urls, "api": f"http://127.0.0.1:{metrics_port}/health"}
    before = {name: scrape(url) for name, url in urls.items()}
    with system.client() as client:
        phones = [valid_phone(i) for i in range(SENT)] + [invalid_phone(i) for i in range(INVALID)]
        campaign = create_campaign(client, "observed", phones)
        start(client, campaign["id"])
        wait_finished(client, campaign["id"], timeout_s=60)
    after = {name: scrape(url) for name, url in urls.items()}

    def moved(service: str, name: str, **labels: str) -> float:
        return total(after[service], name, **labels) - total(before[service], name, **labels)

    prefix = "campaign_queue_"
    assert moved("sender-0", f"{prefix}messages_sent_total") == SENT
    assert moved("sender-0", f"{prefix}messages_failed_total", code="21211") == INVALID
    assert moved("sender-0", f"{prefix}twilio_request_duration_seconds_count") >= SENT + INVALID
    assert moved("sender-0", f"{prefix}limiter_wait_seconds_count") >= SENT + INVALID
    assert total(after["sender-0"], f"{prefix}circuit_breaker_state") == 0
    assert moved("dispatcher", f"{prefix}batches_emitted_total") >= 1
    assert moved("metrics", f"{prefix}results_folded_total", outcome="sent") == SENT
    assert moved("metrics", f"{prefix}results_folded_total", outcome="failed") == INVALID
    assert total(after["api"], f"{prefix}campaigns", status="completed") >= 1
    # Grafana's per-campaign panels: the campaign's account, as queue-status gives it.
    with system.client() as client:
        status = client.get(f"/api/campaigns/{campaign['id']}/queue-status").json()["status"]
    account = status["account"]
    for state, field in (("sent", "sent"), ("delivered", "delivered"),
                         ("failed_at_send", "failedAtSend"), ("waiting", "waiting")):  # fmt: skip
        shown = total(
            after["api"], f"{prefix}campaign_recipients", campaign=campaign["id"], state=state
        )
        assert shown == account[field], state
    assert account["failedAtSend"] == INVALID
    rate = total(after["api"], f"{prefix}campaign_success_rate_percent", campaign=campaign["id"])
    assert rate == account["successRate"]
    topic_prefix = system.env["KAFKA_TOPIC_PREFIX"]
    lagging = {dict(ls)["topic"] for n, ls in after["api"] if n == f"{prefix}consumer_lag"}
    assert {f"{topic_prefix}message.commands", f"{topic_prefix}message.results"} <= lagging
