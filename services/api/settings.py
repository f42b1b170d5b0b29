"""Settings of the API: the shared ones plus authentication, phones and dashboards."""

from __future__ import annotations

import os

import phonenumbers
from pydantic import Field, SecretStr, field_validator

from services.api.auth import DEFAULT_ROLE, ROLES, Role
from shared.settings import Settings


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which a container's cpuset
    narrows); a CPU quota is not seen, so set API_WORKERS where one applies (k8s)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_api_tokens(value: str) -> dict[str, tuple[str, Role]]:
    """``user:token[:role]`` entries, comma-separated, as token -> (user, role); no role
    means marketer. Raises ValueError on a malformed entry."""
    tokens: dict[str, tuple[str, Role]] = {}
    for entry in (item.strip() for item in value.split(",")):
        if not entry:
            continue
        parts = [part.strip() for part in entry.split(":")]
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError("expected comma-separated user:token or user:token:role entries")
        user, token, *role = parts
        if role and role[0] not in ROLES:
            raise ValueError(f"unknown role {role[0]!r}: expected one of {', '.join(ROLES)}")
        tokens[token] = (user, role[0] if role else DEFAULT_ROLE)  # type: ignore[assignment]
    return tokens


def parse_token_pairs(value: str) -> dict[str, str]:
    """``user:token[:role]`` entries as token -> user."""
    return {token: user for token, (user, _) in parse_api_tokens(value).items()}


class ApiSettings(Settings):
    """The API listens on API_HOST:API_PORT (127.0.0.1:8000 by default)."""

    # Worker processes serving the API (uvicorn workers sharing one socket): one per
    # core by default. Each opens its own Kafka and Redis connections.
    api_workers: int = Field(default_factory=usable_cores, ge=1, le=512)
    # Static bearer tokens, ``user:token`` or ``user:token:role`` (marketer, the default,
    # or admin) separated by commas. More tokens can be made at run time with
    # ``python -m services.api create-token <user> [--role admin] [--expires-in 30d]``.
    api_tokens: str = ""
    # Prometheus' GET /metrics, served apart from the public API port (0: a free port).
    api_metrics_port: int = Field(default=9464, ge=0, le=65535)
    # Region used to read phone numbers written without a leading + (ISO 3166 code).
    default_phone_region: str = "US"
    # Contacts written to PostgreSQL per statement during an import.
    contacts_import_chunk: int = Field(default=1_000, ge=1, le=5_000)
    # Request bodies larger than this are refused (413) before they are parsed; the CSV
    # import, which streams its file, has its own cap.
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    api_max_import_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
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
        parse_api_tokens(value)
        return value

    @field_validator("default_phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("expected a region code such as US or ES")
        return region

    @property
    def static_tokens(self) -> dict[str, tuple[str, Role]]:
        """Token -> (user, role), from API_TOKENS."""
        return parse_api_tokens(self.api_tokens)
