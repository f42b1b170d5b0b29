"""Request and response bodies of the routes used before a campaign is sent: its
preview (`POST /api/campaigns/{id}/preview`, `POST /api/campaigns/preview`) and its
test send (`POST /api/campaigns/{id}/test-send`)."""

from __future__ import annotations

from pydantic import Field

from services.api.schemas.base import ApiModel, ItemName
from services.api.schemas.campaigns import CampaignCreate, SendWindowCreate

DEFAULT_PREVIEW_LIMIT = 5
MAX_PREVIEW_LIMIT = 50
MAX_TEST_PHONES = 5

PreviewLimit = Field(
    default=DEFAULT_PREVIEW_LIMIT,
    ge=1,
    le=MAX_PREVIEW_LIMIT,
    description=f"How many of the first recipients to show (at most {MAX_PREVIEW_LIMIT}).",
)


class PreviewCreate(ApiModel):
    limit: int = PreviewLimit


class CampaignPreviewCreate(CampaignCreate):
    """A campaign create body (as `POST /api/campaigns` takes), previewed and not stored.

    `name` may be left out, so that a form can preview before it is named; `missingVars`
    is read but never refuses: what contacts lack is answered in `missingVariables`.
    """

    name: ItemName | None = None  # type: ignore[assignment]
    limit: int = PreviewLimit


# CampaignCreate names SendWindowCreate before its module defines it.
CampaignPreviewCreate.model_rebuild(_types_namespace={"SendWindowCreate": SendWindowCreate})


class MessagePreviewPublic(ApiModel):
    """One recipient's message as it would be sent."""

    position: int = Field(description="The recipient's place in the audience (send order).")
    phone: str
    name: str | None
    text: str | None = Field(
        description="A text message's body, personalised; none for a template."
    )
    content_sid: str | None = Field(description="A template's Content SID; none for a text.")
    content_variables: dict[str, str] | None = Field(
        description="A template's content variables as resolved for this recipient."
    )


class MissingVariablePublic(ApiModel):
    variable: str = Field(description="A `{{variable}}` the message names.")
    count: int = Field(description="How many recipients lack it (filled with nothing).")


class CampaignPreviewPublic(ApiModel):
    campaign_id: str | None = Field(description="None for a create body's preview.")
    total_recipients: int = Field(description="Recipients in the audience, all checked.")
    messages: list[MessagePreviewPublic] = Field(description="The first `limit` recipients'.")
    missing_variables: list[MissingVariablePublic] = Field(
        description="Each variable some recipients lack, most lacked first; empty when "
        "every recipient has every variable the message names."
    )


class TestSendCreate(ApiModel):
    phones: list[str] = Field(
        min_length=1,
        max_length=MAX_TEST_PHONES,
        description=f"1 to {MAX_TEST_PHONES} numbers, E.164 or in the default region.",
        examples=[["+34611001000"]],
    )


class TestMessagePublic(ApiModel):
    id: str = Field(description="The test send's contact id, `test-send:<uuid>`.")
    phone: str = Field(description="The number in E.164.")
    to: str = Field(description="Twilio's `To`, with the whatsapp: prefix.")
    from_number: str = Field(description="Twilio's `From`.")
    text: str | None
    content_sid: str | None
    content_variables: dict[str, str] | None


class TestSendPublic(ApiModel):
    campaign_id: str
    messages: list[TestMessagePublic] = Field(description="Each message queued, in request order.")
