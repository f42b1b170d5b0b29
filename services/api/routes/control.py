"""Live control of a running campaign, and its queue status."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import CampaignReaderDep, CampaignServiceDep, CurrentUser
from services.api.schemas.campaigns import ControlPublic
from services.api.schemas.errors import errors
from services.api.schemas.queue_status import QueueStatusPublic

router = APIRouter(
    prefix="/api/campaigns",
    tags=["control"],
    responses=errors(401, 404, 422, d404="No campaign of yours has this id."),
)
# A pause, resume or stop the campaign's status does not allow (stopping a completed one).
NOT_NOW = errors(409, d409="Not in a status this moves from: the body names its `status`.")


@router.post("/{campaign_id}/queue-pause", response_model=ControlPublic, responses=NOT_NOW)
async def pause_campaign(
    campaign_id: str, user: CurrentUser, service: CampaignServiceDep
) -> ControlPublic:
    """Pause sending; no new Twilio call for this campaign starts after it is acknowledged."""
    record = await service.control(user, campaign_id, "pause")
    return ControlPublic(message="Campaign paused", status=record.status)


@router.post("/{campaign_id}/queue-resume", response_model=ControlPublic, responses=NOT_NOW)
async def resume_campaign(
    campaign_id: str, user: CurrentUser, service: CampaignServiceDep
) -> ControlPublic:
    """Resume a paused campaign with its next unsent contact."""
    record = await service.control(user, campaign_id, "resume")
    return ControlPublic(message="Campaign resumed", status=record.status)


@router.post("/{campaign_id}/queue-stop", response_model=ControlPublic, responses=NOT_NOW)
async def stop_campaign(
    campaign_id: str, user: CurrentUser, service: CampaignServiceDep
) -> ControlPublic:
    """Stop the campaign; its unsent contacts are cancelled."""
    record = await service.control(user, campaign_id, "stop")
    return ControlPublic(message="Campaign stopped", status=record.status)


@router.get("/{campaign_id}/queue-status", response_model=QueueStatusPublic)
async def campaign_queue_status(
    campaign_id: str, user: CurrentUser, reader: CampaignReaderDep
) -> QueueStatusPublic:
    """Progress of a campaign: jobs (the dispatcher's batches), counts and rates."""
    return QueueStatusPublic(status=await reader.queue_status(user, campaign_id))
