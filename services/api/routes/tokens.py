"""Bearer tokens, for admins: list them (ids, never the tokens) and revoke issued ones.

Tokens are issued by ``python -m services.api create-token``, the one place that shows
a token; static ones come from API_TOKENS and are removed there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status

from services.api.auth import StaticTokenNotRevocable, TokenNotFound
from services.api.deps import ADMINS_ONLY, AdminUser, TokenRegistryDep
from services.api.schemas.errors import errors, not_found
from services.api.schemas.tokens import TokenPublic, TokensPublic

router = APIRouter(prefix="/api/tokens", tags=["tokens"], responses=errors(401))


@router.get("", response_model=TokensPublic, responses=ADMINS_ONLY)
async def list_tokens(admin: AdminUser, registry: TokenRegistryDep) -> TokensPublic:
    """Every token: static ones, then issued ones newest first."""
    now = datetime.now(UTC)
    records = await registry.records()
    return TokensPublic(tokens=[TokenPublic.from_record(r, now) for r in records])


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **ADMINS_ONLY,
        **errors(422),
        **errors(
            404,
            d404="No issued token has this id.",
            examples={404: not_found("token 4f1c9a0e")},
        ),
        **errors(409, d409="A static token (from API_TOKENS): remove it there."),
    },
)
async def revoke_token(token_id: str, admin: AdminUser, registry: TokenRegistryDep) -> None:
    """Revoke an issued token: it gets 401 from now on."""
    try:
        await registry.revoke(token_id)
    except TokenNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"token {token_id} not found") from None
    except StaticTokenNotRevocable:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"token {token_id} comes from API_TOKENS: remove it there"
        ) from None
