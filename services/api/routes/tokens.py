"""Bearer tokens, for admins: list them (ids, never the tokens) and revoke issued ones.

Tokens are issued by ``python -m services.api create-token``, the one place that shows
a token; static ones come from API_TOKENS and are removed there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import Field

from services.api.auth import (
    Role,
    StaticTokenNotRevocable,
    TokenNotFound,
    TokenRecord,
    TokenRegistry,
)
from services.api.deps import AdminUser
from services.api.models import ApiModel

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


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


def _registry(request: Request) -> TokenRegistry:
    return request.app.state.tokens


@router.get("", response_model=TokensPublic)
async def list_tokens(admin: AdminUser, request: Request) -> TokensPublic:
    """Every token: static ones, then issued ones newest first."""
    now = datetime.now(UTC)
    records = await _registry(request).records()
    return TokensPublic(tokens=[TokenPublic.from_record(r, now) for r in records])


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "No issued token has this id."}, 409: {}},
)
async def revoke_token(token_id: str, admin: AdminUser, request: Request) -> None:
    """Revoke an issued token: it gets 401 from now on."""
    try:
        await _registry(request).revoke(token_id)
    except TokenNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"token {token_id} not found") from None
    except StaticTokenNotRevocable:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"token {token_id} comes from API_TOKENS: remove it there"
        ) from None
