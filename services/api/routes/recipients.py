"""A campaign's recipients and what became of each: a page as JSON, or all as CSV.

Read from PostgreSQL (the ``recipients`` table), kept for RESULTS_TTL_S after the
campaign ends. Both read pages by send position, so the last page of a million costs
what the first does, and the CSV export streams with bounded memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from services.api.deps import CampaignReaderDep, CurrentUser, RecipientStoreDep
from services.api.paging import Page, paging
from services.api.schemas.recipients import PENDING, RecipientResultPublic, RecipientResultsPublic
from shared.store.recipients import RecipientResult, RecipientStore

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])

NOT_FOUND = {404: {"description": "No campaign of yours has this id."}}
CSV_COLUMNS = [
    "position",
    "contact_id",
    "phone",
    "name",
    "state",
    "error_code",
    "message_sid",
    "reason",
    "outcome_at",
    "delivery_state",
    "delivery_error_code",
    "delivery_at",
]
EXPORT_PAGE = 5_000


@router.get("/{campaign_id}/recipients", response_model=RecipientResultsPublic, responses=NOT_FOUND)
async def list_recipients(
    campaign_id: str,
    user: CurrentUser,
    reader: CampaignReaderDep,
    store: RecipientStoreDep,
    page: Annotated[Page, paging(default_limit=100)],
) -> RecipientResultsPublic:
    """The campaign's recipients in send order, each with its outcome so far."""
    await reader.get(user, campaign_id)
    results = await store.results(campaign_id, page.offset, page.limit)
    total = await store.size(campaign_id)
    return RecipientResultsPublic(
        recipients=[RecipientResultPublic.from_result(r) for r in results], **page.fields(total)
    )


@router.get(
    "/{campaign_id}/recipients.csv",
    responses={
        200: {"content": {"text/csv": {}}, "description": "One row per recipient."},
        **NOT_FOUND,
    },
    response_class=StreamingResponse,
)
async def export_recipients(
    campaign_id: str, user: CurrentUser, reader: CampaignReaderDep, store: RecipientStoreDep
) -> StreamingResponse:
    """Every recipient of the campaign and its outcome, as CSV, streamed."""
    await reader.get(user, campaign_id)
    return StreamingResponse(
        _csv(store, campaign_id),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{campaign_id}-recipients.csv"'},
    )


async def _csv(store: RecipientStore, campaign_id: str) -> AsyncIterator[str]:
    start = 0
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    while results := await store.results(campaign_id, start, EXPORT_PAGE):
        rows.extend(_row(result) for result in results)
        yield _lines(rows)
        start, rows = results[-1].position + 1, []
    if rows:  # no recipient at all: the header alone
        yield _lines(rows)


def _row(result: RecipientResult) -> list[object]:
    return [
        result.position,
        result.contact_id,
        result.phone,
        result.name or "",
        result.state or PENDING,
        "" if result.error_code is None else result.error_code,
        result.message_sid or "",
        result.reason or "",
        result.outcome_at.isoformat() if result.outcome_at else "",
        result.delivery_state or "",
        "" if result.delivery_error_code is None else result.delivery_error_code,
        result.delivery_at.isoformat() if result.delivery_at else "",
    ]


def _lines(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
