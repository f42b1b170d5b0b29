"""Campaigns before they are started: edit, delete; and a copy of any campaign."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.api.deps import CampaignDraftsDep, CurrentUser
from services.api.schemas.campaigns import CampaignPublic
from services.api.schemas.drafts import CampaignUpdate
from services.api.schemas.errors import errors

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], responses=errors(401, 422))

NOT_FOUND = errors(404, d404="No campaign of yours has this id.")
STARTED = errors(
    409,
    d409="The campaign has started: only a draft or a scheduled one changes. "
    "The body names its `status`.",
)


@router.patch(
    "/{campaign_id}",
    response_model=CampaignPublic,
    responses={
        **NOT_FOUND,
        **STARTED,
        **errors(413, 422, d422="Not valid as a create would be: `field` names what."),
        503: {"description": "Kafka did not take the new schedule; the campaign is a draft."},
    },
)
async def edit_campaign(
    campaign_id: str, body: CampaignUpdate, user: CurrentUser, drafts: CampaignDraftsDep
) -> CampaignPublic:
    """Change a draft or scheduled campaign: `name`, `message`, `priority`,
    `scheduledAt` (null makes it a draft again), `expiresAt`, the audience (`contacts`
    or `listId`, frozen anew), `fromNumber`, `messagingServiceSid`, `sendWindow`.

    Fields left out stay. Checked as `POST /api/campaigns` checks, on the campaign as it
    would be: a new message against the stored audience too (`missingVars`). Answers
    the campaign as changed.
    """
    return CampaignPublic.from_record(await drafts.edit(user, campaign_id, body))


@router.delete(
    "/{campaign_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**NOT_FOUND, **STARTED},
)
async def delete_campaign(
    campaign_id: str, user: CurrentUser, drafts: CampaignDraftsDep
) -> Response:
    """Delete a draft or scheduled campaign with its audience and history: it leaves
    every list, and a schedule never starts it."""
    await drafts.delete(user, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{campaign_id}/clone",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignPublic,
    responses={
        **NOT_FOUND,
        **errors(409, d409="Its audience is no longer kept (7 days after it ended)."),
    },
)
async def clone_campaign(
    campaign_id: str, user: CurrentUser, drafts: CampaignDraftsDep
) -> CampaignPublic:
    """A new draft with the campaign's definition and audience, named `<name> (copy)`,
    from a campaign in any status, finished ones too. Its own history begins as a draft."""
    return CampaignPublic.from_record(await drafts.clone(user, campaign_id))
