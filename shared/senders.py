"""Sender numbers and Messaging Service pools: whose number sends, how fast, how widely.

A campaign names one sender number, or a Messaging Service whose pool of numbers
shares the campaign. Each number has its own send rate (its own limiter bucket at
the senders) and its own WhatsApp messaging tier (business-initiated conversations
with unique users per rolling 24 h, counted by the dispatcher). A number that is
not configured gets the TWILIO_RATE_LIMIT_* defaults and no tier cap.

A recipient always gets a campaign's messages from the same number of a pool: the
number is chosen by a stable hash of the recipient, so a conversation, its 24 h
service window and its opt-out stay with one sender.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from shared.phones import WHATSAPP_PREFIX

Tier = Literal["1K", "10K", "100K", "unlimited"]
TIER_LIMITS: dict[str, int | None] = {
    "1K": 1_000,
    "10K": 10_000,
    "100K": 100_000,
    "unlimited": None,
}
MESSAGING_SERVICE_SID_PATTERN = r"^MG[0-9a-fA-F]{32}$"


def bare_number(address: str) -> str:
    """``whatsapp:+14155238886`` and ``+14155238886`` name the same sender."""
    return address.strip().removeprefix(WHATSAPP_PREFIX)


class SenderNumber(BaseModel):
    """One configured sender number (WHATSAPP_SENDERS is a JSON list of these)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(min_length=3, max_length=40, description="E.164, whatsapp: optional.")
    # WhatsApp senders get 80 MPS at Twilio; the original system's 10/s stays the
    # default, so a number is only faster when configured so.
    mps: PositiveInt | None = None
    per_minute: PositiveInt | None = None
    per_hour: PositiveInt | None = None
    tier: Tier = "unlimited"

    @field_validator("number")
    @classmethod
    def _e164(cls, value: str) -> str:
        number = bare_number(value)
        if not (number.startswith("+") and number[1:].isdigit()):
            raise ValueError(f"{value!r} is not an E.164 number")
        return number


@dataclass(frozen=True, slots=True)
class RateLimits:
    per_second: int
    per_minute: int
    per_hour: int


class SenderDirectory:
    """Looks up numbers, pools and limits from the settings; pure, no I/O."""

    def __init__(
        self,
        numbers: Sequence[SenderNumber],
        messaging_services: dict[str, list[str]],
        default_limits: RateLimits,
    ) -> None:
        self._numbers = {n.number: n for n in numbers}
        self._pools = {
            sid: tuple(bare_number(number) for number in pool)
            for sid, pool in messaging_services.items()
        }
        self._default_limits = default_limits

    def pool(self, messaging_service_sid: str) -> tuple[str, ...] | None:
        return self._pools.get(messaging_service_sid)

    def choose(self, pool: Sequence[str], recipient: str) -> str:
        """The pool's number for this recipient: the same one every time."""
        if len(pool) == 1:
            return pool[0]
        digest = hashlib.blake2b(bare_number(recipient).encode(), digest_size=8).digest()
        return pool[int.from_bytes(digest, "big") % len(pool)]

    def limits(self, number: str) -> RateLimits:
        configured = self._numbers.get(bare_number(number))
        if configured is None or configured.mps is None:
            base = self._default_limits
            if configured is None:
                return base
            return RateLimits(
                base.per_second,
                configured.per_minute or base.per_minute,
                configured.per_hour or base.per_hour,
            )
        mps = configured.mps
        return RateLimits(
            mps, configured.per_minute or mps * 60, configured.per_hour or mps * 3_600
        )

    def tier_limit(self, number: str) -> int | None:
        """Unique recipients per rolling 24 h, or None for no cap."""
        configured = self._numbers.get(bare_number(number))
        return None if configured is None else TIER_LIMITS[configured.tier]
