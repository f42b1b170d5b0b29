"""Request and response bodies of the list endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.api.schemas.base import MAX_AUDIENCE_ITEMS, ApiModel, ContactId, ItemName
from services.api.schemas.contacts import ContactPublic


class ListCreate(ApiModel):
    name: ItemName


class ListPublic(ApiModel):
    id: str
    name: str
    size: int = Field(description="How many contacts are on the list.")
    created_at: datetime


class ListsPublic(ApiModel):
    lists: list[ListPublic]
    total: int
    page: int
    limit: int


class MembersAdd(ApiModel):
    contact_ids: list[ContactId] = Field(
        min_length=1,
        max_length=MAX_AUDIENCE_ITEMS,
        description="Ids of your contacts, added in this order; all or none: an id that "
        "is not one of your contacts adds nothing (422 naming it).",
    )


class MembersAddedPublic(ApiModel):
    added: int = Field(description="Contacts that joined; one already on the list is not.")
    size: int


class MembersPublic(ApiModel):
    contacts: list[ContactPublic]
    total: int
    page: int
    limit: int
