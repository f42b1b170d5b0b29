"""The api's plain functions, without I/O."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from services.api.errors import field_path
from services.api.lag import compute_lag, lag_by_topic
from services.api.queue_status import is_running, queue_status
from services.api.senders import breaker_verdict
from services.api.settings import ApiSettings, parse_token_pairs
from shared.events.models import TextContent
from shared.store.campaigns import CampaignRecord
from shared.store.progress import Progress


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("body", "contacts", 3, "phone"), "contacts[3].phone"),
        (("body", "name"), "name"),
        (("body", 1, "phone"), "[1].phone"),
        (("query", "page"), "page"),
        (("body",), "body"),
    ],
)
def test_field_path(loc: tuple, path: str) -> None:
    assert field_path(loc) == path


def test_token_pairs() -> None:
    assert parse_token_pairs(" a:x , b:y,") == {"x": "a", "y": "b"}
    with pytest.raises(ValueError):
        parse_token_pairs("a-without-token")


def test_bad_api_tokens_setting_is_rejected() -> None:
    with pytest.raises(ValueError, match="user:token"):
        ApiSettings(api_tokens="alice")
    with pytest.raises(ValueError, match="region"):
        ApiSettings(default_phone_region="XX")


def _progress(**fields: int) -> Progress:
    base = dict.fromkeys(
        (
            "total",
            "batch_size",
            "batches_total",
            "batches_emitted",
            "emitted",
            "processed",
            "sent",
            "failed",
            "skipped",
            "cancelled",
            "expired",
            "jobs_completed",
        ),
        0,
    )
    base.update(fields)
    return Progress(
        **base,
        started_ms=None,
        first_result_ms=None,
        last_result_ms=None,
        finished_ms=None,
        errors={},
    )


def test_queue_status_jobs_and_percentage() -> None:
    record = CampaignRecord(id="c", status="sending", content=TextContent(body="x"), total=10)
    progress = _progress(
        total=10,
        batch_size=3,
        batches_total=4,
        batches_emitted=3,
        processed=4,
        sent=3,
        failed=1,
        jobs_completed=1,
    )
    status = queue_status(record, progress, now_ms=0)
    assert (status.total_jobs, status.active_jobs, status.waiting_jobs, status.completed_jobs) == (
        4,
        2,
        1,
        1,
    )
    assert status.progress.percentage == 40.0
    assert status.metrics.success_rate == 75.0


def test_finished_campaigns_are_not_running() -> None:
    record = CampaignRecord(id="c", status="sending", content=TextContent(body="x"), total=2)
    assert is_running(record, None)
    assert not is_running(record, _progress(total=2, processed=2))
    assert not is_running(record.model_copy(update={"status": "stopped"}), None)
    assert not is_running(record.model_copy(update={"status": "draft"}), None)


def test_lag_counts_uncommitted_partitions_from_zero() -> None:
    tp0, tp1 = TopicPartition("cmd", 0), TopicPartition("cmd", 1)
    lag = compute_lag(
        {"sender": ("cmd",), "other": ("cmd",)},
        {tp0: 10, tp1: 4, TopicPartition("res", 0): 7},
        {"sender": {tp0: 8}, "other": {tp0: -1}},
    )
    assert lag == {"sender": {"cmd": 6}, "other": {"cmd": 14}}
    assert lag_by_topic(lag) == {"cmd": 14}


@pytest.mark.parametrize(
    ("states", "verdict"),
    [
        ([], "unknown"),
        (["closed", "closed"], "closed"),
        (["closed", "half_open"], "half_open"),
        (["half_open", "open", "closed"], "open"),
        (["closed", "unknown"], "unknown"),
    ],
)
def test_breakers_of_all_replicas_as_one_word(states: list[str], verdict: str) -> None:
    assert breaker_verdict(states) == verdict
