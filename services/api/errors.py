"""Domain errors, and the one place where they become HTTP answers.

The domain raises these without knowing of HTTP; :func:`install_error_handlers`
maps them to status codes and JSON bodies at the boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError, ResponseError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.error_words import worded
from shared.outages import DATABASE_OUTAGES

log = logging.getLogger(__name__)

Location = Sequence[str | int]


class DomainError(Exception):
    """Something the caller asked for that the campaign rules do not allow."""


class CampaignNotFound(DomainError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id} not found")
        self.campaign_id = campaign_id


class ListNotFound(DomainError):
    def __init__(self, list_id: str) -> None:
        super().__init__(f"list {list_id} not found")
        self.list_id = list_id


class ListMemberNotFound(ListNotFound):
    def __init__(self, list_id: str, contact_id: str) -> None:
        DomainError.__init__(self, f"contact {contact_id} is not on list {list_id}")
        self.list_id = list_id
        self.contact_id = contact_id


class ListNameTaken(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(f"you have a list named {name!r} already")
        self.name = name


class IllegalTransition(DomainError):
    def __init__(
        self, campaign_id: str, current: str | None, action: str, reason: str | None = None
    ) -> None:
        why = reason or f"it is {current}"
        super().__init__(f"campaign {campaign_id}: cannot {action}: {why}")
        self.campaign_id = campaign_id
        self.current = current
        self.action = action


class InvalidInput(DomainError):
    """A request value that passed the schema but not the rules (a phone, a contact id)."""

    def __init__(self, loc: Location, message: str, value: Any = None) -> None:
        super().__init__(f"{field_path(loc)}: {message}")
        self.loc = tuple(loc)
        self.reason = message
        self.value = value


class EventNotWritten(DomainError):
    """Kafka did not acknowledge an event; nothing was changed for good."""


def field_path(loc: Location) -> str:
    """``("body", "contacts", 3, "phone")`` -> ``contacts[3].phone``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


_PROBLEM_KEYS = ("type", "loc", "msg", "input")


def _validation_response(errors: Sequence[dict[str, Any]]) -> JSONResponse:
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = field_path(first.get("loc", ()))
    detail = [
        worded({key: value for key, value in error.items() if key in _PROBLEM_KEYS})
        for error in errors
    ]
    # `message` is for people ("Name is required", rows from 1); `field` and `detail`
    # keep the machine's path and pydantic's own words for programs.
    message = detail[0]["text"] if detail else "The request is not valid"
    body = {"message": message, "field": field, "detail": detail}
    return JSONResponse(_jsonable(body), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _jsonable(value: Any) -> Any:
    return jsonable_encoder(value, custom_encoder={Exception: str, bytes: lambda b: "<bytes>"})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_request_invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_response(list(error.errors()))

    @app.exception_handler(InvalidInput)
    async def on_invalid_input(_request: Request, error: InvalidInput) -> JSONResponse:
        return _validation_response(
            [{"type": "value_error", "loc": error.loc, "msg": error.reason, "input": error.value}]
        )

    @app.exception_handler(CampaignNotFound)
    async def on_not_found(_request: Request, error: CampaignNotFound) -> JSONResponse:
        return JSONResponse(
            {"detail": str(error), "message": str(error), "campaignId": error.campaign_id},
            status_code=status.HTTP_404_NOT_FOUND,
        )

    @app.exception_handler(ListNotFound)
    async def on_list_not_found(_request: Request, error: ListNotFound) -> JSONResponse:
        return JSONResponse(
            {"detail": str(error), "message": str(error), "listId": error.list_id},
            status_code=status.HTTP_404_NOT_FOUND,
        )

    @app.exception_handler(ListNameTaken)
    async def on_list_name_taken(_request: Request, error: ListNameTaken) -> JSONResponse:
        return JSONResponse(
            {"detail": str(error), "message": str(error), "field": "name", "name": error.name},
            status_code=status.HTTP_409_CONFLICT,
        )

    @app.exception_handler(IllegalTransition)
    async def on_illegal(_request: Request, error: IllegalTransition) -> JSONResponse:
        return JSONResponse(
            {
                "detail": str(error),
                "message": str(error),
                "campaignId": error.campaign_id,
                "status": error.current,
            },
            status_code=status.HTTP_409_CONFLICT,
        )

    @app.exception_handler(EventNotWritten)
    async def on_not_written(_request: Request, error: EventNotWritten) -> JSONResponse:
        log.warning("event not written", extra={"reason": str(error)})
        return JSONResponse(
            {"detail": str(error), "message": "Kafka unavailable, try again"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    @app.exception_handler(RedisError)
    async def on_redis_down(_request: Request, error: RedisError) -> JSONResponse:
        log.warning("redis unavailable", extra={"reason": repr(error)})
        return JSONResponse(
            {"detail": "Redis unavailable", "message": "Redis unavailable, try again"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    async def on_database_down(_request: Request, error: Exception) -> JSONResponse:
        log.warning("postgres unavailable", extra={"reason": repr(error)})
        return JSONResponse(
            {"detail": "PostgreSQL unavailable", "message": "PostgreSQL unavailable, try again"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    for outage in DATABASE_OUTAGES:
        app.add_exception_handler(outage, on_database_down)

    @app.exception_handler(ResponseError)
    async def on_redis_refused(request: Request, error: ResponseError) -> JSONResponse:
        # An id from the path that names a key of another type (`<id>:audience`, a list,
        # read as a campaign's hash) is not a campaign: a 404, not an outage.
        if str(error).startswith("WRONGTYPE") and "campaign_id" in request.path_params:
            return await on_not_found(request, CampaignNotFound(request.path_params["campaign_id"]))
        return await on_redis_down(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": error.detail, "message": str(error.detail)},
            status_code=error.status_code,
            headers=error.headers,
        )
