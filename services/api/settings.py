"""Settings of the API: the shared ones plus authentication, phones and dashboards."""

from __future__ import annotations

import os

import phonenumbers
from pydantic import Field, SecretStr, field_validator

from shared.settings import Settings


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which a container's cpuset
    narrows); a CPU quota is not seen, so set API_WORKERS where one applies (k8s)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_token_pairs(value: str) -> dict[str, str]:
    """``user:token,user:token`` as token -> user; raises ValueError on a malformed pair."""
    tokens: dict[str, str] = {}
    for pair in (item.strip() for item in value.split(",")):
        if not pair:
            continue
        user, sep, token = pair.partition(":")
        if not sep or not user.strip() or not token.strip():
            raise ValueError("expected comma-separated user:token pairs")
        tokens[token.strip()] = user.strip()
    return tokens


class ApiSettings(Settings):
    """The API listens on API_HOST:API_PORT (127.0.0.1:8000 by default)."""

    # Worker processes serving the API (uvicorn workers sharing one socket): one per
    # core by default. Each opens its own Kafka and Redis connections.
    api_workers: int = Field(default_factory=usable_cores, ge=1, le=512)
    # Static bearer tokens, ``user:token`` pairs separated by commas. More tokens can be
    # made at run time with ``python -m services.api create-token <user>``.
    api_tokens: str = ""
    # Region used to read phone numbers written without a leading + (ISO 3166 code).
    default_phone_region: str = "US"
    # Contacts written to Redis per round trip during an import.
    contacts_import_chunk: int = Field(default=1_000, ge=1, le=5_000)
    # How long consumer lag numbers are reused before Kafka is asked again.
    consumer_lag_cache_s: float = Field(default=2.0, ge=0)
    # How long a user's dashboard summary is reused (0: never). A change through the api
    # drops it at once, in every worker (services/api/dashboard.py).
    dashboard_cache_s: float = Field(default=1.0, ge=0)
    # A sender heartbeat older than this no longer counts as an active worker.
    worker_heartbeat_timeout_s: float = Field(default=30.0, gt=0)
    # A campaign without expiresAt expires this long after its start time (0: never).
    campaign_default_expiry_s: int = Field(default=0, ge=0)

    # Alerts (services/api/alerts.py), checked every ALERT_INTERVAL_S over the last
    # ALERT_WINDOW_S: the original system's four, with its thresholds.
    alert_interval_s: float = Field(default=5.0, gt=0)
    alert_window_s: float = Field(default=300.0, gt=0)
    # Failed / (sent + failed), once at least ALERT_MIN_OUTCOMES outcomes are in the window.
    alert_failure_rate: float = Field(default=0.10, gt=0, le=1)
    alert_min_outcomes: int = Field(default=20, ge=1)
    # Average time of a Twilio request.
    alert_processing_time_ms: float = Field(default=5_000.0, gt=0)
    # Records a consumer group has not read yet, on any of its topics.
    alert_queue_lag: int = Field(default=50_000, ge=1)

    # Twilio webhooks (services/api/routes/webhooks.py) are signed with the Auth Token,
    # or with a Webhooks Rule's SharedKey secret (HMAC_SHA256) when one covers the URL.
    twilio_webhook_shared_key_secret: SecretStr | None = None

    @field_validator("api_tokens")
    @classmethod
    def _tokens_well_formed(cls, value: str) -> str:
        parse_token_pairs(value)
        return value

    @field_validator("default_phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("expected a region code such as US or ES")
        return region

    @property
    def static_tokens(self) -> dict[str, str]:
        """Token -> user, from API_TOKENS."""
        return parse_token_pairs(self.api_tokens)
