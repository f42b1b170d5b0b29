"""Lists: saved audiences of a user's contacts, filled by hand or by CSV import
(`POST /api/contacts/import?listId=...`), that a campaign is sent to by `listId`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from services.api.deps import CurrentUser, ListStoreDep
from services.api.errors import InvalidInput, ListMemberNotFound, ListNameTaken, ListNotFound
from services.api.lists_store import ContactList
from services.api.paging import Page, paging
from services.api.routes.contacts import public_contact
from services.api.schemas.errors import LIST_NOT_FOUND, errors
from services.api.schemas.lists import (
    ListCreate,
    ListPublic,
    ListsPublic,
    MembersAdd,
    MembersAddedPublic,
    MembersPublic,
)

router = APIRouter(prefix="/api/lists", tags=["lists"], responses=errors(401, 422))
NOT_FOUND = errors(404, d404="No list of yours has this id.", examples={404: LIST_NOT_FOUND})


def _public(found: ContactList) -> ListPublic:
    return ListPublic(id=found.id, name=found.name, size=found.size, created_at=found.created_at)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ListPublic,
    responses=errors(409, 413, d409="You have a list of that name."),
)
async def create_list(body: ListCreate, user: CurrentUser, lists: ListStoreDep) -> ListPublic:
    """A new, empty list; names are unique per user."""
    created = await lists.create(user.id, body.name)
    if created is None:
        raise ListNameTaken(body.name)
    return _public(created)


@router.get("", response_model=ListsPublic)
async def list_lists(
    user: CurrentUser, lists: ListStoreDep, page: Annotated[Page, paging(max_limit=100)]
) -> ListsPublic:
    """Your lists, newest first, each with its size."""
    found, total = await lists.page(user.id, page.offset, page.limit)
    return ListsPublic(lists=[_public(f) for f in found], **page.fields(total))


@router.get("/{list_id}", response_model=ListPublic, responses=NOT_FOUND)
async def get_list(list_id: str, user: CurrentUser, lists: ListStoreDep) -> ListPublic:
    found = await lists.get(user.id, list_id)
    if found is None:
        raise ListNotFound(list_id)
    return _public(found)


@router.delete(
    "/{list_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
)
async def delete_list(list_id: str, user: CurrentUser, lists: ListStoreDep) -> Response:
    """The list goes; its contacts stay, and so do campaigns already sent to it."""
    if not await lists.delete(user.id, list_id):
        raise ListNotFound(list_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{list_id}/members", response_model=MembersPublic, responses=NOT_FOUND)
async def list_members(
    list_id: str,
    user: CurrentUser,
    lists: ListStoreDep,
    page: Annotated[Page, paging()],
) -> MembersPublic:
    """The list's contacts in the order they joined: the order a campaign sends in."""
    found = await lists.get(user.id, list_id)
    if found is None:
        raise ListNotFound(list_id)
    members = await lists.members_page(user.id, list_id, page.offset, page.limit)
    return MembersPublic(contacts=[public_contact(c) for c in members], **page.fields(found.size))


@router.post(
    "/{list_id}/members",
    response_model=MembersAddedPublic,
    responses={**NOT_FOUND, **errors(413)},
)
async def add_members(
    list_id: str, body: MembersAdd, user: CurrentUser, lists: ListStoreDep
) -> MembersAddedPublic:
    """Add contacts by id (`POST /api/contacts` gives ids), all or none."""
    if await lists.get(user.id, list_id) is None:
        raise ListNotFound(list_id)
    result = await lists.add_members(user.id, list_id, body.contact_ids)
    if result.unknown_index is not None:
        index = result.unknown_index
        raise InvalidInput(
            ("body", "contactIds", index),
            "none of your contacts has this id; nothing was added",
            body.contact_ids[index],
        )
    found = await lists.get(user.id, list_id)
    return MembersAddedPublic(added=result.added, size=found.size if found else 0)


@router.delete(
    "/{list_id}/members/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(
        404,
        d404="No list of yours has this id, or not this contact.",
        examples={404: LIST_NOT_FOUND},
    ),
)
async def remove_member(
    list_id: str, contact_id: str, user: CurrentUser, lists: ListStoreDep
) -> Response:
    """The contact leaves the list (and stays a contact)."""
    if await lists.get(user.id, list_id) is None:
        raise ListNotFound(list_id)
    if not await lists.remove_member(user.id, list_id, contact_id):
        raise ListMemberNotFound(list_id, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
