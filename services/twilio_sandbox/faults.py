"""Failure injection: the fault configuration and the decisions it implies (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WHATSAPP_PREFIX = "whatsapp:"

MessageFinalStatus = Literal["delivered", "failed", "undelivered"]


class PermanentErrorRule(BaseModel):
    """A recipient whose number ends with `suffix` always fails with Twilio error `code`.

    sync: rejected at creation (HTTP 400, never in the ledger);
    async: accepted (201, queued) and failed later in status and callbacks.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    suffix: str = Field(pattern=r"^[0-9]{1,15}$")
    code: int = Field(ge=10000, le=99999)
    mode: Literal["sync", "async"]
    final_status: Literal["failed", "undelivered"] | None = None

    def async_final_status(self) -> MessageFinalStatus:
        if self.final_status is not None:
            return self.final_status
        # Twilio reports carrier-side 30xxx errors as undelivered, channel errors as failed.
        return "undelivered" if 30000 <= self.code < 31000 else "failed"


DEFAULT_PERMANENT_ERRORS: tuple[PermanentErrorRule, ...] = (
    PermanentErrorRule(suffix="0000", code=21211, mode="sync"),
    PermanentErrorRule(suffix="0001", code=21610, mode="sync"),
    PermanentErrorRule(suffix="0003", code=21614, mode="sync"),
    PermanentErrorRule(suffix="0002", code=63016, mode="async"),
    PermanentErrorRule(suffix="0004", code=63024, mode="async"),
    PermanentErrorRule(suffix="0005", code=30007, mode="async"),
)


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: int = Field(default=0, ge=0)
    latency_jitter_ms: int = Field(default=0, ge=0)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    force_429_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    # Fraction of accepted messages answered 500 all the same: Twilio documents that a
    # 500 may or may not have been processed.
    accepted_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    outage_until_ms: int | None = Field(default=None, ge=0)
    mps: int = Field(default=10, ge=1)
    permanent_errors: tuple[PermanentErrorRule, ...] = DEFAULT_PERMANENT_ERRORS


class FaultUpdate(BaseModel):
    """Body of POST /_sandbox/faults: only the fields present change."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int | None = Field(default=None, ge=0)
    latency_jitter_ms: int | None = Field(default=None, ge=0)
    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    force_429_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    accepted_error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    outage_until_ms: int | None = Field(default=None, ge=0)
    outage_s: float | None = Field(default=None, ge=0.0)
    mps: int | None = Field(default=None, ge=1)
    permanent_errors: tuple[PermanentErrorRule, ...] | None = None


def apply_update(current: FaultConfig, update: FaultUpdate, now_ms: int) -> FaultConfig:
    changes: dict[str, object] = {}
    for name in update.model_fields_set:
        value = getattr(update, name)
        if name == "outage_s":
            changes["outage_until_ms"] = None if value is None else now_ms + round(value * 1000)
        elif value is not None or name == "outage_until_ms":
            # An explicit null outage_until_ms ends an outage; other nulls mean "unchanged".
            changes[name] = value
    return current.model_copy(update=changes)


@dataclass(slots=True, frozen=True)
class InjectedFailure:
    http_status: int
    code: int
    retry_after_s: int | None


INTERNAL_ERROR = InjectedFailure(http_status=500, code=20500, retry_after_s=None)
FORCED_THROTTLE = InjectedFailure(http_status=429, code=20429, retry_after_s=1)


def outage_failure(config: FaultConfig, now_ms: int) -> InjectedFailure | None:
    """The 503 every API request gets during an outage (reads too, as in a real one)."""
    if config.outage_until_ms is None or now_ms >= config.outage_until_ms:
        return None
    remaining_ms = config.outage_until_ms - now_ms
    return InjectedFailure(
        http_status=503, code=20503, retry_after_s=max(1, -(-remaining_ms // 1000))
    )


def injected_failure(
    config: FaultConfig, now_ms: int, error_draw: float, throttle_draw: float
) -> InjectedFailure | None:
    """Decide whether a create request fails by injection; draws are uniform in [0, 1)."""
    unavailable = outage_failure(config, now_ms)
    if unavailable is not None:
        return unavailable
    if error_draw < config.error_rate:
        return INTERNAL_ERROR
    if throttle_draw < config.force_429_rate:
        return FORCED_THROTTLE
    return None


def latency_s(config: FaultConfig, jitter_draw: float) -> float:
    """Delay before answering a create request; jitter_draw is uniform in [0, 1)."""
    return (config.latency_ms + jitter_draw * config.latency_jitter_ms) / 1000.0


def recipient_number(to: str) -> str:
    return to[len(WHATSAPP_PREFIX) :] if to.startswith(WHATSAPP_PREFIX) else to


def match_permanent_error(
    rules: tuple[PermanentErrorRule, ...], to: str
) -> PermanentErrorRule | None:
    number = recipient_number(to)
    for rule in rules:
        if number.endswith(rule.suffix):
            return rule
    return None
