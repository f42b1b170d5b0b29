"""Request and response bodies of the contact endpoints."""

from __future__ import annotations

from pydantic import Field

from services.api.schemas.base import ApiModel, ContactName, ContactVars


class ContactCreate(ApiModel):
    phone: str = Field(min_length=1, max_length=64)
    name: ContactName | None = None
    vars: ContactVars = Field(default_factory=dict)


class ContactPublic(ApiModel):
    id: str
    phone: str
    name: str | None
    vars: dict[str, str]


class ContactsCreatedPublic(ApiModel):
    imported: int
    created: int
    updated: int
    contacts: list[ContactPublic]


class ContactsPublic(ApiModel):
    contacts: list[ContactPublic]
    total: int
    page: int
    limit: int


class RowErrorPublic(ApiModel):
    row: int = Field(description="Line of the file, the header being line 1.")
    message: str


class ImportPublic(ApiModel):
    imported: int = Field(description="Rows written: new contacts plus updated ones.")
    created: int
    updated: int
    skipped: int = Field(description="Rows not imported; the first 20 are in errors.")
    added_to_list: int | None = Field(
        default=None,
        description="With `listId`: imported contacts that joined the list (one already "
        "on it is not counted).",
    )
    errors: list[RowErrorPublic]
