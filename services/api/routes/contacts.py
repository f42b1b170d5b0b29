"""Contacts: add, import from CSV, list. A phone number is one contact per user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, File, Query, UploadFile, status
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from services.api.contacts_store import Contact
from services.api.csv_import import import_contacts
from services.api.deps import ContactStoreDep, CurrentUser, ListStoreDep, SettingsDep
from services.api.errors import ListNotFound
from services.api.paging import Page, paging
from services.api.phones import require_phone
from services.api.schemas.base import MAX_AUDIENCE_ITEMS
from services.api.schemas.contacts import (
    ContactCreate,
    ContactPublic,
    ContactsCreatedPublic,
    ContactsPublic,
    ImportPublic,
    RowErrorPublic,
)
from services.api.schemas.errors import LIST_NOT_FOUND, errors
from services.api.schemas.examples import REQUESTS

router = APIRouter(prefix="/api/contacts", tags=["contacts"], responses=errors(401, 422))
CONTACTS_BODY = {
    "one": {"summary": "One contact", "value": REQUESTS["ContactCreate"]},
    "several": {
        "summary": "Several contacts",
        "value": [REQUESTS["ContactCreate"], {"phone": "+34611001001", "name": "Luis"}],
    },
}
# Parsing this many phones or more would hold up every other request: a worker thread.
OFF_LOOP_FROM = 500


def public_contact(contact: Contact) -> ContactPublic:
    return ContactPublic(
        id=contact.id or "", phone=contact.phone, name=contact.name, vars=contact.vars
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactsCreatedPublic,
    responses=errors(413),
)
async def add_contacts(
    body: Annotated[
        ContactCreate | Annotated[list[ContactCreate], Field(max_length=MAX_AUDIENCE_ITEMS)],
        Body(openapi_examples=CONTACTS_BODY),
    ],
    user: CurrentUser,
    store: ContactStoreDep,
    settings: SettingsDep,
) -> ContactsCreatedPublic:
    """Add one contact or a list of them; a phone already stored updates that contact.

    At most 20,000 in one request (and a body of at most API_MAX_BODY_BYTES): import
    more with `POST /api/contacts/import`.
    """
    items = body if isinstance(body, list) else [body]
    region = settings.default_phone_region

    def parsed() -> list[Contact]:
        return [
            Contact(
                require_phone(
                    item.phone,
                    region,
                    ("body", index, "phone") if isinstance(body, list) else ("body", "phone"),
                ),
                item.name,
                item.vars,
            )
            for index, item in enumerate(items)
        ]

    contacts = await run_in_threadpool(parsed) if len(items) >= OFF_LOOP_FROM else parsed()
    created = updated = 0
    ids: list[str] = []
    chunk = settings.contacts_import_chunk
    for start in range(0, len(contacts), chunk):
        result = await store.upsert(user.id, contacts[start : start + chunk])
        created, updated = created + result.created, updated + result.updated
        ids.extend(result.ids)
    return ContactsCreatedPublic(
        imported=len(contacts),
        created=created,
        updated=updated,
        contacts=[
            public_contact(Contact(c.phone, c.name, c.vars, contact_id))
            for c, contact_id in zip(contacts, ids, strict=True)
        ],
    )


@router.post(
    "/import",
    response_model=ImportPublic,
    responses=errors(
        404,
        413,
        d404="`listId` names no list of yours.",
        d413="The file is larger than API_MAX_IMPORT_BYTES; `limitBytes` says the cap.",
        examples={404: LIST_NOT_FOUND},
    ),
)
async def import_contacts_csv(
    file: Annotated[UploadFile, File(description="CSV with a header row naming `phone`.")],
    user: CurrentUser,
    store: ContactStoreDep,
    lists: ListStoreDep,
    settings: SettingsDep,
    list_id: Annotated[
        str | None,
        Query(
            alias="listId",
            max_length=64,
            description="Also add every imported contact to this list of yours, in file "
            "order: then send a campaign to it by `listId`, whatever its size.",
        ),
    ] = None,
) -> ImportPublic:
    """Import contacts from a CSV file.

    The header row must have a `phone` column; `name` is optional and every other
    column becomes a contact variable (at most 100). Rows are streamed: the file may be
    large, up to API_MAX_IMPORT_BYTES (64 MiB by default; 413 beyond). The file must be
    UTF-8 (a BOM is fine): any other encoding is a 422 naming the line and byte, and
    nothing is imported. A malformed row (a quoted field running over lines, more cells
    than the header, control or bidi-override characters) is skipped and reported.
    """
    joined = None
    if list_id is not None:
        if await lists.get(user.id, list_id) is None:
            raise ListNotFound(list_id)

        async def joined(contact_ids: list[str]) -> int:
            return await lists.add_imported(user.id, list_id, contact_ids)

    report = await import_contacts(
        file.file,
        store,
        user.id,
        settings.default_phone_region,
        settings.contacts_import_chunk,
        joined,
    )
    return ImportPublic(
        imported=report.imported,
        created=report.created,
        updated=report.updated,
        skipped=report.skipped,
        added_to_list=report.joined if list_id is not None else None,
        errors=[
            RowErrorPublic(row=e.row, message=e.message)
            for e in sorted(report.errors, key=lambda e: e.row)
        ],
    )


@router.get("", response_model=ContactsPublic)
async def list_contacts(
    user: CurrentUser,
    store: ContactStoreDep,
    page: Annotated[Page, paging()],
    search: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Only contacts whose phone starts with this (+ optional) or whose "
            "name contains it, in any case.",
            examples=["Ana"],
        ),
    ] = None,
) -> ContactsPublic:
    """Your contacts, in the order they were first added."""
    contacts, total = await store.page(user.id, page.offset, page.limit, search)
    return ContactsPublic(contacts=[public_contact(c) for c in contacts], **page.fields(total))
