"""The opt-out list of the Twilio account: numbers no campaign sends to.

Numbers get on it by replying STOP (the inbound webhook), by Twilio error 21610, or
here; the dispatcher skips them as `opted_out`. The list is one per sending account
(as WhatsApp opt-outs are), so it names other users' recipients: any user may add a
number and look one up, only admins may list, delete, or read the audit trail. An
``inbound_stop`` entry is the recipient's own choice: only their START lifts it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import Field

from services.api.deps import AdminUser, CurrentUser, SettingsDep
from services.api.models import MAX_PAGE, ApiModel
from services.api.phones import require_phone
from services.api.settings import ApiSettings
from shared.redis import Keys
from shared.store.suppressions import INBOUND_STOP, AuditEntry, Suppression, SuppressionStore

router = APIRouter(prefix="/api/suppressions", tags=["suppressions"])


async def get_suppression_store(request: Request) -> SuppressionStore:
    settings: ApiSettings = request.app.state.settings
    account_sid, _ = settings.twilio_credentials
    return SuppressionStore(
        request.app.state.connections.redis, Keys(settings.redis_key_prefix), account_sid
    )


SuppressionStoreDep = Annotated[SuppressionStore, Depends(get_suppression_store)]


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


@router.get("", response_model=SuppressionsPublic, responses={403: {"description": "Admins only."}})
async def list_suppressions(
    admin: AdminUser,
    store: SuppressionStoreDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> SuppressionsPublic:
    """Suppressed numbers, the most recently added first."""
    entries, total = await store.page((page - 1) * limit, limit)
    return SuppressionsPublic(
        suppressions=[SuppressionPublic.from_entry(e) for e in entries],
        total=total,
        page=page,
        limit=limit,
    )


@router.get("/audit", response_model=AuditPublic, responses={403: {"description": "Admins only."}})
async def suppression_audit(
    admin: AdminUser,
    store: SuppressionStoreDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> AuditPublic:
    """Every change to the list (who, when, what, why), the most recent first."""
    entries, total = await store.audit_page((page - 1) * limit, limit)
    return AuditPublic(
        entries=[AuditEntryPublic.from_entry(e) for e in entries],
        total=total,
        page=page,
        limit=limit,
    )


@router.get(
    "/{phone}",
    response_model=SuppressionPublic,
    responses={404: {"description": "The number is not suppressed."}},
)
async def get_suppression(
    phone: str, user: CurrentUser, store: SuppressionStoreDep, settings: SettingsDep
) -> SuppressionPublic:
    """Whether one number is suppressed, and why."""
    e164 = require_phone(phone, settings.default_phone_region, ("path", "phone"))
    entry = await store.get(e164)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{e164} is not suppressed")
    return SuppressionPublic.from_entry(entry)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SuppressionPublic,
    responses={200: {"model": SuppressionPublic, "description": "Already suppressed."}},
)
async def add_suppression(
    body: SuppressionCreate,
    user: CurrentUser,
    store: SuppressionStoreDep,
    settings: SettingsDep,
    response: Response,
) -> SuppressionPublic:
    """Suppress a number (201); one already on the list keeps its entry (200)."""
    phone = require_phone(body.phone, settings.default_phone_region, ("body", "phone"))
    if not await store.add(phone, "api", actor=user.id):
        response.status_code = status.HTTP_200_OK
    entry = await store.get(phone)
    if entry is None:  # removed again in between: report what this request did
        entry = Suppression(phone, "api", datetime.now(UTC))
    return SuppressionPublic.from_entry(entry)


@router.delete(
    "/{phone}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        403: {"description": "Admins only."},
        404: {"description": "The number is not suppressed."},
        409: {"description": "The recipient opted out (inbound_stop): only their START lifts it."},
    },
)
async def remove_suppression(
    phone: str, admin: AdminUser, store: SuppressionStoreDep, settings: SettingsDep
) -> Response:
    """Let campaigns reach the number again (not one the recipient opted out by STOP)."""
    e164 = require_phone(phone, settings.default_phone_region, ("path", "phone"))
    removal = await store.remove(e164, admin.id, lifts=lambda reason: reason != INBOUND_STOP)
    if removal.reason is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{e164} is not suppressed")
    if not removal.removed:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{e164} opted out by replying STOP (inbound_stop): only the recipient's START "
            "reply lifts it",
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
