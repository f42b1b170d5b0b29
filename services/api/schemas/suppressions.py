"""The bodies of the suppression endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.schemas.base import ApiModel
from shared.store.suppressions import AuditEntry, Suppression


class SuppressionCreate(ApiModel):
    phone: str = Field(min_length=1, max_length=64, examples=["+34611001000"])


class SuppressionPublic(ApiModel):
    phone: str = Field(description="E.164.")
    reason: str = Field(description="inbound_stop, error_21610 or api.")
    added_at: datetime

    @classmethod
    def from_entry(cls, entry: Suppression) -> SuppressionPublic:
        return cls(phone=entry.phone, reason=entry.reason, added_at=entry.added_at)


class SuppressionsPublic(ApiModel):
    suppressions: list[SuppressionPublic]
    total: int
    page: int
    limit: int


class AuditEntryPublic(ApiModel):
    at: datetime
    action: str = Field(description="added or removed.")
    phone: str
    reason: str = Field(description="The suppression's reason (for a removal, the lifted one).")
    actor: str = Field(description="A user id, recipient (STOP/START) or twilio (its errors).")

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> AuditEntryPublic:
        return cls(
            at=entry.at,
            action=entry.action,
            phone=entry.phone,
            reason=entry.reason,
            actor=entry.actor,
        )


class AuditPublic(ApiModel):
    entries: list[AuditEntryPublic]
    total: int
    page: int
    limit: int
