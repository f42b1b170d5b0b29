"""The body of a campaign's rate series: messages sent and failed per bucket of time."""

from __future__ import annotations

from pydantic import Field

from services.api.schemas.base import ApiModel
from shared.store.rate_series import RateSeries


class RatePointPublic(ApiModel):
    at: int = Field(description="Start of the bucket, in seconds since the epoch (UTC).")
    sent: int = Field(description="Messages Twilio accepted in this bucket.", ge=0)
    failed: int = Field(description="Messages that failed at send in this bucket.", ge=0)
    failed_after_acceptance: int = Field(
        description="Messages Twilio had accepted whose failed or undelivered receipt "
        "came in this bucket; these go on arriving after the campaign ends.",
        ge=0,
    )


class RateSeriesPublic(ApiModel):
    campaign_id: str
    bucket_seconds: int = Field(
        description="Width of every bucket, in seconds: 1 while the campaign spans at most "
        "3,600 of them, then doubled as often as needed to stay within 3,600. Divide a "
        "count by it for a rate per second.",
        examples=[1],
    )
    points: list[RatePointPublic] = Field(
        description="Every bucket from the first result or receipt to the last, oldest "
        "first, empty ones included; none before the first. Their counts add up to the "
        "campaign's sent and failed, and to its failures after acceptance."
    )

    @classmethod
    def from_series(cls, campaign_id: str, series: RateSeries) -> RateSeriesPublic:
        return cls(
            campaign_id=campaign_id,
            bucket_seconds=series.bucket_seconds,
            points=[
                RatePointPublic(
                    at=point.at_s,
                    sent=point.sent,
                    failed=point.failed,
                    failed_after_acceptance=point.failed_after_acceptance,
                )
                for point in series.points
            ],
        )
