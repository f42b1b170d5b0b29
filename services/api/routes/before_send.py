"""Before a campaign is sent: its preview, and a test send to a few numbers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, status

from services.api.deps import (
    CampaignPreviewerDep,
    CurrentUser,
    SuppressionStoreDep,
    TestSenderDep,
)
from services.api.schemas.before_send import (
    CampaignPreviewCreate,
    CampaignPreviewPublic,
    PreviewCreate,
    TestSendCreate,
    TestSendPublic,
)
from services.api.schemas.errors import errors
from services.api.test_send import queued_message

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], responses=errors(401))

INVALID = errors(413, 422, d422="The body is not valid: `field` names what is wrong.")
NOT_YOURS = {**errors(404, d404="No campaign of yours has this id."), **INVALID}


@router.post("/preview", response_model=CampaignPreviewPublic, responses=INVALID)
async def preview_create_body(
    body: CampaignPreviewCreate, user: CurrentUser, previewer: CampaignPreviewerDep
) -> CampaignPreviewPublic:
    """Preview a campaign create body without storing anything, as a form is filled in.

    Takes what `POST /api/campaigns` takes (`name` may be left out) and `limit`. Answers
    the first `limit` recipients' messages as they would be sent, and in
    `missingVariables` each `{{variable}}` the message names that some recipients lack
    (a misspelt variable shows there), counted over the whole audience.
    """
    return await previewer.of_body(user, body)


@router.post("/{campaign_id}/preview", response_model=CampaignPreviewPublic, responses=NOT_YOURS)
async def preview_campaign(
    campaign_id: str,
    user: CurrentUser,
    previewer: CampaignPreviewerDep,
    body: Annotated[PreviewCreate | None, Body()] = None,
) -> CampaignPreviewPublic:
    """The first `limit` recipients' messages (5 by default, at most 50) as they would
    be sent: phone, name, and the text, or a template's content variables, personalised.

    `missingVariables`: each `{{variable}}` the message names that some recipients lack,
    with how many lack it (they get it empty). The body is optional.
    """
    limit = (body or PreviewCreate()).limit
    return await previewer.of_campaign(user, campaign_id, limit)


@router.post(
    "/{campaign_id}/test-send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TestSendPublic,
    responses={
        **NOT_YOURS,
        503: {"description": "Kafka did not take the messages; nothing was sent."},
    },
)
async def test_send(
    campaign_id: str,
    body: TestSendCreate,
    user: CurrentUser,
    sender: TestSenderDep,
    opt_outs: SuppressionStoreDep,
) -> TestSendPublic:
    """Send the campaign's message to 1 to 5 numbers, to see it on a phone first.

    Goes the way of every real send (message.commands, the senders' shared limiter, the
    idempotency ledger, the circuit breaker, Twilio), in any status, and counts in
    nothing: the campaign's status, queue-status, progress, recipients and the
    dashboard stay as they were. Personalised with the campaign's first recipient's
    variables and the name `Test`. 202 once Kafka has the messages; a number that is
    not valid or opted out is a 422 naming its item (1-based) in `phones`.
    """
    queued = await sender.send(user, campaign_id, body.phones, opt_outs)
    return TestSendPublic(
        campaign_id=campaign_id,
        messages=[queued_message(phone, command) for phone, command in queued],
    )
