"""The bodies of the token endpoints: ids and metadata, never a token."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.auth import Role, TokenRecord
from services.api.schemas.base import ApiModel


class TokenPublic(ApiModel):
    id: str = Field(description="First hex digits of the token's SHA-256.")
    user: str
    role: Role
    source: str = Field(description="issued (create-token) or static (API_TOKENS).")
    created_at: datetime | None
    expires_at: datetime | None
    expired: bool

    @classmethod
    def from_record(cls, record: TokenRecord, now: datetime) -> TokenPublic:
        return cls(
            id=record.id,
            user=record.user,
            role=record.role,
            source=record.source,
            created_at=record.created_at,
            expires_at=record.expires_at,
            expired=record.expired(now),
        )


class TokensPublic(ApiModel):
    tokens: list[TokenPublic]
