"""The queue-status body of a campaign, in the Bull-era shape."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from services.api.schemas.base import ApiModel
from services.api.schemas.campaigns import AllowedActions
from shared.account import CampaignAccount
from shared.lifecycle import CampaignStatus


class ProgressPublic(ApiModel):
    processed: int = Field(
        description="Contacts that reached a send outcome: success + failed. Skipped, "
        "cancelled and expired contacts are not processed (see `account`)."
    )
    total: int
    success: int = Field(description="Messages Twilio accepted.")
    failed: int = Field(description="Messages Twilio refused at send.")
    percentage: float = Field(description="processed / total, in percent.")


class FailureReasonPublic(ApiModel):
    code: int
    count: int
    meaning: str = Field(description='For a person: 63016 reads "needs a template".')


class WaitingPublic(ApiModel):
    """Contacts the dispatcher holds until a time, not yet sent."""

    send_window: int = Field(default=0, description="Until their local send window opens.")
    tier: int = Field(default=0, description="Until the sender's messaging tier has room.")


class QueueMetricsPublic(ApiModel):
    processing_time_ms: int = Field(description="From the start to the end (or now), in ms.")
    messages_per_second: float = Field(description="The same as account.ratePerSecond.")
    success_rate: float = Field(description="The same as account.successRate.")
    started_at: datetime | None
    finished_at: datetime | None
    skipped: int
    cancelled: int
    expired: int
    errors_by_code: dict[str, int]
    skipped_by_reason: dict[str, int] = Field(
        default_factory=dict, description="Skipped contacts by reason: opted_out, invalid, ..."
    )
    failure_reasons: list[FailureReasonPublic] = Field(
        default_factory=list,
        description="Failures by Twilio error code, refused sends and failed or undelivered "
        "receipts together, with what the code means.",
    )
    waiting: WaitingPublic = Field(default_factory=lambda: WaitingPublic())


class FunnelPublic(ApiModel):
    """Messages by how far they got, from Twilio's delivery receipts; cumulative: a read
    message counts as delivered and sent too. Receipts may follow the outcome by hours."""

    accepted: int = Field(default=0, description="Messages Twilio accepted (progress.success).")
    sent: int = Field(default=0, description="Left Twilio: delivered, read or undelivered.")
    delivered: int = Field(default=0, description="Reached the phone, read ones included.")
    read: int = 0
    failed: int = Field(default=0, description="Accepted, then failed (see funnelErrorsByCode).")
    undelivered: int = 0


class AccountFailurePublic(ApiModel):
    code: int | None = Field(description="Twilio's error code; null when none was reported.")
    stage: Literal["at_send", "after_acceptance", "undelivered"] = Field(
        description="Refused at send, failed after Twilio accepted it, or undelivered."
    )
    count: int
    meaning: str = Field(description='For a person: 63016 reads "needs a template".')


class AccountPublic(ApiModel):
    """Where each recipient ended: every recipient is in exactly one of delivered, sent,
    failedAtSend, failedAfterAcceptance, undelivered, skipped, cancelled, expired and
    waiting, which add up to total. The web page and campaignctl show this as it is."""

    total: int
    delivered: int = Field(description="Accepted, then delivered; read ones included.")
    read: int = Field(description="Of the delivered, those read.")
    sent: int = Field(description="Accepted by Twilio, no final receipt yet.")
    failed_at_send: int = Field(description="Refused by Twilio at send.")
    failed_after_acceptance: int = Field(description="Accepted, then a `failed` receipt.")
    undelivered: int = Field(description="Accepted, then an `undelivered` receipt.")
    skipped: int = Field(description="Never sent: opted out, invalid, ... (see skippedByReason).")
    cancelled: int = Field(description="Never sent: the campaign was stopped first.")
    expired: int = Field(description="Never sent: the campaign expired first.")
    waiting: int = Field(description="No end state yet.")
    processed: int = Field(description="Reached a send outcome: accepted or failed at send.")
    succeeded: int = Field(description="delivered + sent.")
    failed: int = Field(
        description="Failed at either stage: at send, after acceptance, undelivered."
    )
    success_rate: float = Field(
        description="succeeded / processed, in percent: failures after acceptance count as "
        "failures."
    )
    percent_processed: float = Field(description="processed / total, in percent.")
    sending_seconds: float = Field(
        description="From the first send outcome to the end of the second of the last."
    )
    rate_per_second: float = Field(description="processed / sendingSeconds.")
    summary: str = Field(
        description='For people, parts adding up to the total: "12 sent · 18 cancelled".'
    )
    failures: list[AccountFailurePublic] = Field(
        default_factory=list, description="Failures by code and stage, most frequent first."
    )

    @classmethod
    def of(cls, account: CampaignAccount) -> AccountPublic:
        return cls(
            **{name: getattr(account, name) for name in cls.model_fields if name != "failures"},
            failures=[
                AccountFailurePublic(code=f.code, stage=f.stage, count=f.count, meaning=f.meaning)
                for f in account.failures
            ],
        )


class CampaignQueueStatusPublic(ApiModel):
    campaign_id: str
    status: CampaignStatus
    allowed_actions: AllowedActions
    total_jobs: int
    active_jobs: int
    waiting_jobs: int
    completed_jobs: int
    failed_jobs: int
    progress: ProgressPublic
    metrics: QueueMetricsPublic
    throttled_until: datetime | None = Field(
        default=None,
        description="While `throttled` by the sender's messaging tier: when sending resumes.",
    )
    circuit_breaker: str | None = Field(
        default=None,
        description="While the campaign runs: the senders' circuit breakers as one, "
        "`open` when Twilio calls wait (its messages are not failed for it).",
    )
    failure_reason: str | None = Field(
        default=None, description="When `failed`: why the system gave up on the campaign."
    )
    account: AccountPublic | None = Field(
        default=None, description="Where each recipient ended, and what people read from it."
    )
    retryable_failures: int = Field(
        default=0,
        description="Failed contacts a retry may help (a timeout, Twilio busy): what "
        "`POST .../retry-failed` sends again once the campaign has ended.",
    )
    funnel: FunnelPublic = Field(default_factory=lambda: FunnelPublic())
    funnel_errors_by_code: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description='failed / undelivered -> Twilio error code -> messages: {"failed": '
        '{"63016": 2}}.',
    )


class QueueStatusPublic(ApiModel):
    success: bool = True
    status: CampaignQueueStatusPublic
