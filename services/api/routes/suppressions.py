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

from fastapi import APIRouter, HTTPException, Response, status

from services.api.deps import ADMINS_ONLY, AdminUser, CurrentUser, SettingsDep, SuppressionStoreDep
from services.api.paging import Page, paging
from services.api.phones import require_phone
from services.api.schemas.errors import errors
from services.api.schemas.suppressions import (
    AuditEntryPublic,
    AuditPublic,
    SuppressionCreate,
    SuppressionPublic,
    SuppressionsPublic,
)
from shared.store.suppressions import INBOUND_STOP, Suppression

NOT_SUPPRESSED = {
    404: {"detail": "+34611001000 is not suppressed", "message": "+34611001000 is not suppressed"}
}
router = APIRouter(prefix="/api/suppressions", tags=["suppressions"], responses=errors(401, 422))


@router.get("", response_model=SuppressionsPublic, responses=ADMINS_ONLY)
async def list_suppressions(
    admin: AdminUser, store: SuppressionStoreDep, page: Annotated[Page, paging()]
) -> SuppressionsPublic:
    """Suppressed numbers, the most recently added first."""
    entries, total = await store.page(page.offset, page.limit)
    return SuppressionsPublic(
        suppressions=[SuppressionPublic.from_entry(e) for e in entries], **page.fields(total)
    )


@router.get("/audit", response_model=AuditPublic, responses=ADMINS_ONLY)
async def suppression_audit(
    admin: AdminUser, store: SuppressionStoreDep, page: Annotated[Page, paging(default_limit=50)]
) -> AuditPublic:
    """Every change to the list (who, when, what, why), the most recent first."""
    entries, total = await store.audit_page(page.offset, page.limit)
    return AuditPublic(
        entries=[AuditEntryPublic.from_entry(e) for e in entries], **page.fields(total)
    )


@router.get(
    "/{phone}",
    response_model=SuppressionPublic,
    responses=errors(404, d404="The number is not suppressed.", examples=NOT_SUPPRESSED),
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
    responses={
        200: {"model": SuppressionPublic, "description": "Already suppressed."},
        **errors(413),
    },
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
        **ADMINS_ONLY,
        **errors(
            404,
            409,
            d404="The number is not suppressed.",
            examples=NOT_SUPPRESSED,
            d409="The recipient opted out (inbound_stop): only their START lifts it.",
        ),
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
