"""The one account of a campaign (shared/account.py): each recipient in one state, the
states adding up to the total, and what people read from them."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from shared.account import (
    ACCOUNT_STATES,
    AFTER_ACCEPTANCE,
    AT_SEND,
    UNDELIVERED,
    CampaignAccount,
    Counts,
    campaign_account,
    combined,
)

STATES = ACCOUNT_STATES


def in_states(account: CampaignAccount) -> int:
    return sum(getattr(account, state) for state in STATES)


def test_a_stopped_campaign_reads_sent_and_cancelled_and_is_not_fully_processed() -> None:
    account = campaign_account(
        Counts(total=30, accepted=12, cancelled=18, first_send_ms=0, last_send_ms=1_100)
    )
    assert account.summary == "12 sent · 18 cancelled"
    assert (account.processed, account.percent_processed) == (12, 40.0)
    assert account.success_rate == 100.0
    # 12 sends in 1.1 s under a 10 a second limit: the rate reads at most the limit.
    assert account.rate_per_second <= 10


def test_failures_after_acceptance_are_failures_with_their_stage_and_meaning() -> None:
    account = campaign_account(
        Counts(
            total=50, accepted=49, failed_at_send=1, delivered=40, read=5,
            failed_after_acceptance=1, undelivered=2,
        ),
        send_errors={21211: 1},
        receipt_errors={"failed": {"63016": 1}, "undelivered": {"30007": 1, "unknown": 1}},
    )  # fmt: skip
    assert (account.failed, account.succeeded, account.sent) == (4, 46, 6)
    assert account.success_rate == round(100 * 46 / 50, 2)
    assert account.summary == "46 sent · 4 failed"
    assert {(f.code, f.stage, f.count) for f in account.failures} == {
        (21211, AT_SEND, 1),
        (63016, AFTER_ACCEPTANCE, 1),
        (30007, UNDELIVERED, 1),
        (None, UNDELIVERED, 1),
    }
    assert next(f for f in account.failures if f.code == 63016).meaning != "Twilio error 63016"


def test_receipts_folded_before_their_send_outcome_never_count_past_the_accepted() -> None:
    account = campaign_account(Counts(total=3, accepted=1, delivered=2, undelivered=1))
    assert (account.undelivered, account.delivered, account.sent, account.waiting) == (1, 0, 0, 2)


def test_a_draft_is_all_waiting_with_no_rate() -> None:
    account = campaign_account(Counts(total=5))
    assert (account.summary, account.rate_per_second, account.success_rate) == (
        "5 waiting", 0.0, 0.0,
    )  # fmt: skip


counts = st.builds(
    Counts,
    total=st.integers(0, 1_000),
    accepted=st.integers(0, 300),
    failed_at_send=st.integers(0, 300),
    skipped=st.integers(0, 100),
    cancelled=st.integers(0, 100),
    expired=st.integers(0, 100),
    delivered=st.integers(0, 400),
    read=st.integers(0, 400),
    failed_after_acceptance=st.integers(0, 400),
    undelivered=st.integers(0, 400),
)


@given(counts)
def test_every_recipient_is_in_exactly_one_state(given_counts: Counts) -> None:
    ended = (
        given_counts.accepted + given_counts.failed_at_send + given_counts.skipped
        + given_counts.cancelled + given_counts.expired
    )  # fmt: skip
    account = campaign_account(given_counts)
    assert min(getattr(account, state) for state in STATES) >= 0
    if ended <= given_counts.total:
        assert in_states(account) == given_counts.total
    assert account.accepted == given_counts.accepted
    assert account.read <= account.delivered


@given(st.lists(st.integers(0, 100), min_size=1, max_size=20), st.integers(1, 50))
def test_sends_kept_under_a_per_second_limit_never_read_above_it(
    gaps_ms: list[int], limit: int
) -> None:
    # Sends as a sliding-window limiter lets them through: at most `limit` in any second.
    times: list[int] = []
    at = 0
    for gap in gaps_ms * 10:
        at += gap
        while len(times) >= limit and at - times[-limit] < 1_000:
            at = times[-limit] + 1_000
        times.append(at)
    account = campaign_account(
        Counts(total=len(times), accepted=len(times), first_send_ms=times[0], last_send_ms=at)
    )
    assert account.rate_per_second <= limit


def test_the_dashboards_account_sums_the_campaigns_state_by_state() -> None:
    one = campaign_account(Counts(total=30, accepted=12, cancelled=18), {21211: 1})
    two = campaign_account(Counts(total=5, accepted=4, failed_at_send=1), {21211: 1})
    both = combined([one, two])
    for name in (f.name for f in fields(CampaignAccount)):
        if name not in ("failures", "sending_seconds"):
            assert getattr(both, name) == getattr(one, name) + getattr(two, name)
    assert [(f.code, f.count) for f in both.failures] == [(21211, 2)]
