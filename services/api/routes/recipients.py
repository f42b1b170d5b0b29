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

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.api.deps import CampaignReaderDep, CurrentUser, RecipientStoreDep
from services.api.paging import Page, paging
from services.api.schemas.errors import errors
from services.api.schemas.recipients import RecipientResultPublic, RecipientResultsPublic
from shared.store.recipient_states import RecipientState, recipient_state, state_code
from shared.store.recipients import RecipientResult, RecipientStore
from shared.twilio_errors import failure_meaning

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], responses=errors(401, 422))

NOT_FOUND = errors(404, d404="No campaign of yours has this id.")
# The JSON page's fields, in snake case: one account of each recipient on both.
CSV_COLUMNS = [
    "position",
    "contact_id",
    "phone",
    "name",
    "state",
    "error_code",
    "error_meaning",
    "message_sid",
    "reason",
    "outcome_at",
    "delivery_state",
    "delivery_at",
]
EXPORT_PAGE = 5_000


StateFilter = Annotated[
    RecipientState | None,
    Query(description="Only recipients in this state (see the `state` field)."),
]


@router.get("/{campaign_id}/recipients", response_model=RecipientResultsPublic, responses=NOT_FOUND)
async def list_recipients(
    campaign_id: str,
    user: CurrentUser,
    reader: CampaignReaderDep,
    store: RecipientStoreDep,
    page: Annotated[Page, paging(default_limit=100)],
    state: StateFilter = None,
) -> RecipientResultsPublic:
    """The campaign's recipients in send order, each with what became of it so far."""
    await reader.get(user, campaign_id)
    results, total = await store.results_page(campaign_id, page.offset, page.limit, state)
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
    campaign_id: str,
    user: CurrentUser,
    reader: CampaignReaderDep,
    store: RecipientStoreDep,
    state: StateFilter = None,
) -> StreamingResponse:
    """Every recipient of the campaign (or those in ``state``) and what became of it, as
    CSV, streamed: the same fields as the JSON page."""
    await reader.get(user, campaign_id)
    suffix = f"-{state}" if state else ""
    return StreamingResponse(
        _csv(store, campaign_id, state),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{campaign_id}-recipients{suffix}.csv"'
        },
    )


async def _csv(
    store: RecipientStore, campaign_id: str, state: RecipientState | None
) -> AsyncIterator[str]:
    start = 0
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    while results := await store.results(campaign_id, start, EXPORT_PAGE, state):
        rows.extend(_row(result) for result in results)
        yield _lines(rows)
        start, rows = results[-1].position + 1, []
    if rows:  # no recipient at all: the header alone
        yield _lines(rows)


def _row(result: RecipientResult) -> list[object]:
    # The JSON page's account (schemas/recipients.py) by the same functions, without a
    # model a row: a million rows stream about twice as fast.
    state = recipient_state(result.state, result.delivery_state)
    code = state_code(state, result.error_code, result.delivery_error_code)
    return [
        result.position,
        result.contact_id,
        result.phone,
        result.name or "",
        state,
        "" if code is None else code,
        failure_meaning(code) if code is not None else "",
        result.message_sid or "",
        result.reason or "",
        result.outcome_at.isoformat() if result.outcome_at else "",
        result.delivery_state or "",
        result.delivery_at.isoformat() if result.delivery_at else "",
    ]


def _lines(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
