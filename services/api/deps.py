"""Dependencies of the routes, as ``Annotated`` aliases: ``user: CurrentUser`` and so on.

Routes take what they need from here, never from ``request.app.state``.

Every dependency is ``async def``, even those that only read ``app.state``: FastAPI runs
a plain ``def`` dependency in its thread pool, a hop per dependency per request, which
under 200 polling clients showed as a tenth of the api's time and in its latency tail.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.alerts import AlertStore
from services.api.auth import TokenRegistry, User
from services.api.campaign_creation import CampaignCreator
from services.api.campaigns import CampaignReader, CampaignService
from services.api.contacts_store import ContactStore
from services.api.dashboard import DashboardService
from services.api.drafts import CampaignDrafts
from services.api.lists_store import ListStore
from services.api.preview import CampaignPreviewer
from services.api.schemas.errors import errors
from services.api.settings import ApiSettings
from services.api.test_send import TestSender
from shared.redis import Keys
from shared.runtime import Connections
from shared.store.rate_series import RateSeriesStore
from shared.store.recipients import RecipientStore
from shared.store.suppressions import SuppressionCache, SuppressionStore

bearer = HTTPBearer(auto_error=False, description="A token from API_TOKENS or create-token.")


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


async def get_connections(request: Request) -> Connections:
    return request.app.state.connections


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
ConnectionsDep = Annotated[Connections, Depends(get_connections)]


async def get_keys(settings: SettingsDep) -> Keys:
    return Keys(settings.redis_key_prefix)


KeysDep = Annotated[Keys, Depends(get_keys)]


async def get_token_registry(request: Request) -> TokenRegistry:
    return request.app.state.tokens


TokenRegistryDep = Annotated[TokenRegistry, Depends(get_token_registry)]


async def get_current_user(
    registry: TokenRegistryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The user a bearer token belongs to; 401 without a known one."""
    user = await registry.user_for(credentials.credentials) if credentials else None
    if user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid bearer token" if credentials else "not authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> User:
    """The user, when their token has the admin role; 403 for anyone else."""
    if not user.is_admin:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="admin role required")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
# The OpenAPI ``responses`` of a route that takes an AdminUser.
ADMINS_ONLY = errors(403, d403="Admins only: the token lacks the admin role.")


async def get_contact_store(request: Request) -> ContactStore:
    return request.app.state.contact_store


async def get_list_store(request: Request) -> ListStore:
    return request.app.state.list_store


async def get_recipient_store(request: Request) -> RecipientStore:
    return request.app.state.recipient_store


async def get_rate_series_store(request: Request) -> RateSeriesStore:
    return request.app.state.rate_series_store


async def get_alert_store(request: Request) -> AlertStore:
    return request.app.state.alert_store


async def get_suppression_store(
    settings: SettingsDep, connections: ConnectionsDep, keys: KeysDep
) -> SuppressionStore:
    account_sid, _ = settings.twilio_credentials
    cache = SuppressionCache(connections.redis, keys, account_sid)
    return SuppressionStore(connections.database, cache, account_sid)


async def get_campaign_reader(request: Request) -> CampaignReader:
    return request.app.state.campaign_reader


async def get_campaign_creator(request: Request) -> CampaignCreator:
    return request.app.state.campaign_creator


async def get_campaign_service(request: Request) -> CampaignService:
    return request.app.state.campaign_service


async def get_dashboard_service(request: Request) -> DashboardService:
    return request.app.state.dashboard_service


async def get_campaign_previewer(request: Request) -> CampaignPreviewer:
    return request.app.state.campaign_previewer


async def get_test_sender(request: Request) -> TestSender:
    return request.app.state.test_sender


async def get_campaign_drafts(request: Request) -> CampaignDrafts:
    return request.app.state.campaign_drafts


ContactStoreDep = Annotated[ContactStore, Depends(get_contact_store)]
ListStoreDep = Annotated[ListStore, Depends(get_list_store)]
RecipientStoreDep = Annotated[RecipientStore, Depends(get_recipient_store)]
RateSeriesStoreDep = Annotated[RateSeriesStore, Depends(get_rate_series_store)]
AlertStoreDep = Annotated[AlertStore, Depends(get_alert_store)]
SuppressionStoreDep = Annotated[SuppressionStore, Depends(get_suppression_store)]
CampaignReaderDep = Annotated[CampaignReader, Depends(get_campaign_reader)]
CampaignCreatorDep = Annotated[CampaignCreator, Depends(get_campaign_creator)]
CampaignServiceDep = Annotated[CampaignService, Depends(get_campaign_service)]
DashboardServiceDep = Annotated[DashboardService, Depends(get_dashboard_service)]
CampaignPreviewerDep = Annotated[CampaignPreviewer, Depends(get_campaign_previewer)]
TestSenderDep = Annotated[TestSender, Depends(get_test_sender)]
CampaignDraftsDep = Annotated[CampaignDrafts, Depends(get_campaign_drafts)]
