"""One settings model for every service, read from the environment.

Variable names and defaults follow the original Bull-based system so that an
existing deployment's environment keeps working. A service builds its settings
once, in ``__main__``, with :func:`load_settings`, and passes them down.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Literal, NoReturn, TypeVar
from urllib.parse import urlparse

from pydantic import (
    AliasChoices,
    Field,
    NonNegativeInt,
    PositiveInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.logging import register_secret
from shared.senders import (
    MESSAGING_SERVICE_SID_PATTERN,
    RateLimits,
    SenderDirectory,
    SenderNumber,
)

# Public, documented development credentials of the Twilio sandbox. They only
# ever open the local sandbox; real Twilio rejects them.
SANDBOX_ACCOUNT_SID = "AC" + "5a" * 16
SANDBOX_AUTH_TOKEN = "sandbox-dev-auth-token"
SANDBOX_DEFAULT_URL = "http://127.0.0.1:8090"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Settings shared by all services. Each field is one environment variable.

    Long because it is a list: one field per variable, grouped by what they set, so
    that an operator reads every shared setting and its default in one place.
    """

    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, frozen=True, populate_by_name=True
    )

    # Kafka
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = ""
    message_commands_partitions: PositiveInt = 24
    message_results_partitions: PositiveInt = 12
    campaign_events_partitions: PositiveInt = 6
    # Copies of each partition, and how many must hold a record before the producer's
    # acks=all acknowledges it. 1 and 1 on the single local broker; 3 and 2 on a cluster
    # (make up CLUSTER=3, deploy/k8s production): a broker may be lost without losing an
    # acknowledged record or refusing writes. Used when the services create the topics.
    kafka_replication_factor: PositiveInt = 1
    kafka_min_insync_replicas: PositiveInt = 1

    # Redis: the original system read REDIS_URL, or REDISCLOUD_URL on Heroku.
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "REDISCLOUD_URL"),
    )
    redis_key_prefix: str = "cq:"
    redis_max_connections: PositiveInt = 64
    # With failover: the Sentinels (host:port, comma-separated) that name the primary of
    # redis_sentinel_master; REDIS_URL then only gives the database, user and password.
    redis_sentinels: str = ""
    redis_sentinel_master: str = Field(default="cq", min_length=1)
    # Replicas that must hold a send's ledger claim before Twilio is called, so that a
    # promoted replica knows it (WAIT, services/sender/limiter.py). 0: a lone Redis, no
    # wait. Fewer acknowledgements within the timeout count as Redis being away.
    redis_min_replicas_acked: NonNegativeInt = 0
    redis_wait_timeout_ms: PositiveInt = 500

    # PostgreSQL, the system of record (users and tokens so far; docs/architecture.md).
    # The sender does not use it.
    database_url: str = "postgresql://campaign_queue:campaign_queue@127.0.0.1:5432/campaign_queue"
    database_pool_size: PositiveInt = 10

    # Twilio. Without an account SID the services talk to the local sandbox.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_number: str = "whatsapp:+14155238886"
    twilio_api_base_url: str | None = None
    # Where Twilio reaches the api from outside (scheme, host, optional path prefix).
    # When set, senders ask for status callbacks there, and the api checks webhook
    # signatures against this URL rather than the one it saw (a proxy may rewrite it).
    public_base_url: str | None = None

    # Batching, as in the original queue.
    batch_size: PositiveInt = 500
    max_concurrent_batches: PositiveInt = 10
    batch_retry_attempts: NonNegativeInt = 3
    # Named BATCH_RETRY_DELAY before it carried its unit; the old name still counts.
    batch_retry_delay_ms: NonNegativeInt = Field(
        default=1000, validation_alias=AliasChoices("BATCH_RETRY_DELAY_MS", "BATCH_RETRY_DELAY")
    )  # as the original

    # Twilio limits per sender number, shared by all sender replicas.
    twilio_rate_limit_per_second: PositiveInt = 10
    twilio_rate_limit_per_minute: PositiveInt = 600
    twilio_rate_limit_per_hour: PositiveInt = 36_000
    twilio_max_concurrent: PositiveInt = 50
    # Several senders (shared/senders.py): numbers with their own rate and WhatsApp tier,
    # as JSON: [{"number": "+14155550100", "mps": 80, "tier": "10K"}, ...], and
    # Messaging Services with their pools: {"MG...": ["+14155550100", "+14155550101"]}.
    whatsapp_senders: list[SenderNumber] = Field(default_factory=list)
    messaging_services: dict[str, list[str]] = Field(default_factory=dict)

    # Development and tests only: the dispatcher's clock for tiers and send windows
    # adds an offset read from Redis (clock:offset_ms), so a test can move a day ahead.
    clock_adjustable: bool = False

    # HTTP endpoints
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=0, ge=0, le=65535)

    log_level: LogLevel = "INFO"

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap_has_ports(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        if not servers or any(not s.rpartition(":")[2].isdigit() for s in servers):
            raise ValueError("expected host:port[,host:port...]")
        return ",".join(servers)

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels_have_ports(cls, value: str) -> str:
        sentinels = [s.strip() for s in value.split(",") if s.strip()]
        if value.strip() and any(not s.rpartition(":")[2].isdigit() for s in sentinels):
            raise ValueError("expected host:port[,host:port...]")
        return ",".join(sentinels)

    @field_validator("kafka_min_insync_replicas")
    @classmethod
    def _insync_within_replicas(cls, value: int, info: ValidationInfo) -> int:
        replicas = info.data.get("kafka_replication_factor")
        if replicas is not None and value > replicas:
            raise ValueError(f"at most KAFKA_REPLICATION_FACTOR ({replicas})")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("postgresql", "postgres") or not parsed.hostname:
            raise ValueError("expected a postgresql://user:password@host:port/database URL")
        if parsed.password:
            register_secret(parsed.password)
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("expected an http:// or https:// URL without query or fragment")
        return value

    @field_validator("messaging_services")
    @classmethod
    def _pools_of_numbers(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for sid, pool in value.items():
            if not re.fullmatch(MESSAGING_SERVICE_SID_PATTERN, sid):
                raise ValueError(f"{sid!r} is not a Messaging Service SID (MG + 32 hex)")
            if not pool:
                raise ValueError(f"{sid}: a pool needs at least one number")
            for number in pool:
                SenderNumber(number=number)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _twilio_credentials_complete(self) -> Settings:
        token = self.twilio_auth_token
        # Real Twilio signs webhooks with it: an empty key would let anyone sign them.
        if self.twilio_account_sid and (token is None or not token.get_secret_value().strip()):
            raise ValueError("TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID is set")
        return self

    @property
    def redis_sentinel_addresses(self) -> list[tuple[str, int]]:
        """The Sentinels as (host, port); empty without failover."""
        split = (s.rpartition(":") for s in self.redis_sentinels.split(",") if s)
        return [(host, int(port)) for host, _, port in split]

    @property
    def uses_twilio_sandbox(self) -> bool:
        return not self.twilio_account_sid

    @property
    def sender_directory(self) -> SenderDirectory:
        defaults = RateLimits(
            self.twilio_rate_limit_per_second,
            self.twilio_rate_limit_per_minute,
            self.twilio_rate_limit_per_hour,
        )
        return SenderDirectory(self.whatsapp_senders, self.messaging_services, defaults)

    @property
    def twilio_credentials(self) -> tuple[str, str]:
        """Account SID and auth token: real ones when set, else the sandbox's."""
        if self.twilio_account_sid and self.twilio_auth_token is not None:
            return self.twilio_account_sid, self.twilio_auth_token.get_secret_value()
        return SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN

    @property
    def twilio_base_url(self) -> str | None:
        """Where the official client sends its requests; None means Twilio itself."""
        if self.twilio_api_base_url:
            return self.twilio_api_base_url.rstrip("/")
        return SANDBOX_DEFAULT_URL if self.uses_twilio_sandbox else None


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def describe_error(error: ValidationError, model: type[BaseSettings]) -> str:
    """One line naming the environment variable and what is wrong with it."""
    first = error.errors()[0]
    field_name = str(first["loc"][0]) if first["loc"] else ""
    prefix = str(model.model_config.get("env_prefix") or "")
    variable = f"{prefix}{field_name}".upper() if field_name else ""
    for name, field in model.model_fields.items():
        aliases = field.validation_alias
        if isinstance(aliases, AliasChoices) and field_name in aliases.choices:
            field_name = name
            variable = " or ".join(str(choice) for choice in aliases.choices)
    message = str(first["msg"]).removeprefix("Value error, ")
    if not variable:
        return f"configuration error: {message}"
    # Never echo a secret: tokens, or a URL that may carry a password.
    value = first.get("input")
    secret = "token" in field_name or "@" in str(value)
    shown = "" if secret else f" (got {value!r})"
    return f"configuration error: {variable}: {message}{shown}"


def load_settings(model: type[SettingsT] = Settings, **overrides: Any) -> SettingsT:  # type: ignore[assignment]
    """Build settings or stop the process with one line naming the bad variable.

    ``overrides`` (command-line flags, say) win over the environment.
    """
    try:
        settings = model(**overrides)
    except ValidationError as error:
        _exit_with(describe_error(error, model))
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            register_secret(value.get_secret_value())
    return settings


def _exit_with(line: str) -> NoReturn:
    print(line, file=sys.stderr)
    raise SystemExit(2)
