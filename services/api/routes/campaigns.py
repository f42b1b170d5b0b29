"""Campaigns: create, read, list, start, and the history of their status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from services.api.deps import (
    CampaignCreatorDep,
    CampaignReaderDep,
    CampaignServiceDep,
    CurrentUser,
)
from services.api.paging import Page, paging
from services.api.schemas.campaigns import (
    CampaignCreate,
    CampaignCreatedPublic,
    CampaignPublic,
    CampaignsPublic,
    CampaignStartPublic,
    StatusChangePublic,
    StatusHistoryPublic,
)
from services.api.schemas.errors import errors
from shared.store.campaigns import CampaignRecord

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], responses=errors(401, 422))
NOT_YOURS = errors(404, d404="No campaign of yours has this id.")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignCreatedPublic,
    responses=errors(413),
)
async def create_campaign(
    body: CampaignCreate, user: CurrentUser, creator: CampaignCreatorDep
) -> JSONResponse:
    """Create a campaign from stored contact ids and/or inline recipients.

    It stays a draft until started, or is scheduled when `scheduledAt` is given.

    Limits: a body of at most API_MAX_BODY_BYTES (1 MiB by default; 413 beyond), at most
    20,000 `contacts` entries (a larger audience goes through `POST /api/contacts/import`),
    a text of at most 1,600 characters once personalised for each contact, `scheduledAt`
    at most 366 days ahead; no unknown fields, and no control or bidi-override characters
    in names, variables and messages (line breaks and tabs are fine in a text).
    """
    record, skipped = await creator.create(user, body)
    created = CampaignCreatedPublic.from_record(record)
    created.skipped_contacts = skipped
    # `skippedContacts` only when the request asked to skip: the answer is otherwise
    # the same campaign as every other read returns.
    exclude = None if body.missing_vars == "skip" else {"skipped_contacts"}
    return JSONResponse(
        created.model_dump(mode="json", by_alias=True, exclude=exclude),
        status_code=status.HTTP_201_CREATED,
    )


@router.get("", response_model=CampaignsPublic)
async def list_campaigns(
    user: CurrentUser,
    reader: CampaignReaderDep,
    page: Annotated[Page, paging(max_limit=100)],
) -> CampaignsPublic:
    """Your campaigns, newest first."""
    records, total = await reader.list_own(user, page.offset, page.limit)
    return CampaignsPublic(
        campaigns=[CampaignPublic.from_record(r) for r in records], **page.fields(total)
    )


@router.get("/{campaign_id}", response_model=CampaignPublic, responses=NOT_YOURS)
async def get_campaign(
    campaign_id: str, user: CurrentUser, reader: CampaignReaderDep
) -> CampaignPublic:
    """One campaign by id."""
    return CampaignPublic.from_record(await reader.get(user, campaign_id))


@router.get(
    "/{campaign_id}/status-history", response_model=StatusHistoryPublic, responses=NOT_YOURS
)
async def status_history(
    campaign_id: str, user: CurrentUser, reader: CampaignReaderDep
) -> StatusHistoryPublic:
    """Every status the campaign has had, oldest first, with when it changed and the
    status it left: who paused it is in the api's log, when is here."""
    changes = await reader.history(user, campaign_id)
    return StatusHistoryPublic(
        campaign_id=campaign_id,
        changes=[
            StatusChangePublic(status=c.status, previous=c.previous, at=c.at) for c in changes
        ],
    )


@router.post(
    "/{campaign_id}/start",
    response_model=CampaignStartPublic,
    responses={**NOT_YOURS, **errors(409, d409="Not a draft or scheduled campaign.")},
)
async def start_campaign(
    campaign_id: str, user: CurrentUser, service: CampaignServiceDep
) -> CampaignStartPublic:
    """Queue a draft or scheduled campaign for sending now.

    Answers once its CampaignStarted event is durably written to Kafka;
    `estimatedTime` (ms) counts the contacts still waiting in other running campaigns.
    """
    record, estimated_ms = await service.start(user, campaign_id)
    return _queued("Campaign queued for sending", record, estimated_ms)


@router.post(
    "/{campaign_id}/retry-failed",
    response_model=CampaignStartPublic,
    responses={**NOT_YOURS, **errors(409, d409="Not finished, or nothing to retry.")},
)
async def retry_failed(
    campaign_id: str, user: CurrentUser, service: CampaignServiceDep
) -> CampaignStartPublic:
    """Send again, as a new run, to the contacts whose failure was retryable.

    Never to a sent, skipped, opted-out or permanently failed contact. The run has its
    own id (`campaign.id`) and counts; the original campaign's stay readable. 409 when
    the campaign has not finished or has nothing to retry.
    """
    record, estimated_ms = await service.retry_failed(user, campaign_id)
    return _queued("Retry run queued for sending", record, estimated_ms)


def _queued(message: str, record: CampaignRecord, estimated_ms: int) -> CampaignStartPublic:
    """The original system's answer to a start."""
    return CampaignStartPublic(
        message=message,
        job_id=record.job_id or "",
        estimated_contacts=record.total,
        estimated_time=estimated_ms,
        campaign=CampaignPublic.from_record(record),
    )
