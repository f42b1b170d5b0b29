"""The error answers of the API, as the OpenAPI document shows them.

services/api/errors.py and body_limit.py write these bodies; this only describes them.
Every one has ``message``, a sentence for people, and ``detail``: the same sentence, or
for a 422 the list of what failed where. Some add the id or field concerned.

Routes take their ``responses=`` from :func:`errors`: ``errors(404, 409)``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from services.api.schemas.base import ApiModel


class ValidationErrorPublic(ApiModel):
    """One check a request failed: pydantic's type, place and words for programs, and the
    same in plain words for people (services/api/error_words.py)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["missing"])
    loc: list[str | int] = Field(
        description="Where: the part of the request, then the path (items from 0)."
    )
    msg: str = Field(description="Pydantic's own words.")
    input: Any = None
    words: str = Field(
        description="What is wrong, without naming the field: `is required`.",
        examples=["is required"],
    )
    text: str = Field(
        description="The whole sentence, the field named as a person would, items counted "
        "from 1: `Contact 2, phone is required`.",
        examples=["Name is required"],
    )


EXAMPLES: dict[int, dict[str, Any]] = {
    401: {
        "detail": "missing or invalid bearer token",
        "message": "missing or invalid bearer token",
    },
    403: {"detail": "admin role required", "message": "admin role required"},
    404: {
        "detail": "campaign 0b6f5a2e-3c1d-4e8f-9a7b-2d4c6e8f0a1b not found",
        "message": "campaign 0b6f5a2e-3c1d-4e8f-9a7b-2d4c6e8f0a1b not found",
        "campaignId": "0b6f5a2e-3c1d-4e8f-9a7b-2d4c6e8f0a1b",
    },
    409: {
        "detail": "campaign 0b6f5a2e-3c1d-4e8f-9a7b-2d4c6e8f0a1b: cannot pause: it is completed",
        "message": "campaign 0b6f5a2e-3c1d-4e8f-9a7b-2d4c6e8f0a1b: cannot pause: it is completed",
        "campaignId": "0b6f5a2e-3c1d-4e8f-9a7b-2d4c6e8f0a1b",
        "status": "completed",
    },
    413: {
        "detail": "the request body is larger than 1,048,576 bytes (API_MAX_BODY_BYTES)",
        "message": "the request body is larger than 1,048,576 bytes (API_MAX_BODY_BYTES)",
        "field": "body",
        "limitBytes": 1_048_576,
    },
    422: {
        "message": "Name is required",
        "field": "name",
        "detail": [
            {
                "type": "missing",
                "loc": ["body", "name"],
                "msg": "Field required",
                "words": "is required",
                "text": "Name is required",
            }
        ],
    },
}

DESCRIPTIONS: dict[int, str] = {
    401: "No bearer token, or one that is unknown or revoked.",
    403: "The token lacks the role this needs (admin).",
    404: "Nothing of yours has this id.",
    409: "Not in the state this needs: `status` says which it is in.",
    413: "The body is larger than the cap; `limitBytes` says how large it may be.",
    422: "The request is not valid: `message` says the first problem in plain words, "
    "`field` names its path, `detail` lists every check.",
}


class ErrorBody(ApiModel):
    """A 4xx or 5xx answer: what went wrong, for people (``message``) and programs."""

    # Some answers add what they concern (a list's name, say): described, not forbidden.
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLES[404]]})

    message: str = Field(description="A sentence saying what is wrong.")
    detail: str | list[ValidationErrorPublic] = Field(
        description="The message again, or for a 422 each check that failed."
    )
    field: str | None = Field(default=None, description="The field at fault (422, 413).")
    campaign_id: str | None = Field(default=None, description="The campaign concerned.")
    list_id: str | None = Field(default=None, description="The list concerned.")
    status: str | None = Field(default=None, description="A 409's campaign status now.")
    limit_bytes: int | None = Field(default=None, description="A 413's cap, in bytes.")


ResponsesDoc = dict[int | str, dict[str, Any]]


def not_found(what: str, **ids: str) -> dict[str, Any]:
    """A 404's body, as the handler of ``what`` writes it: ``not_found("list x", listId="x")``."""
    return {"detail": f"{what} not found", "message": f"{what} not found", **ids}


LIST_NOT_FOUND = not_found("list ls_0a1b2c3d4e5f60718293", listId="ls_0a1b2c3d4e5f60718293")


def errors(
    *codes: int, examples: dict[int, dict[str, Any]] | None = None, **descriptions: str
) -> ResponsesDoc:
    """The ``responses=`` of a route or router for ``codes``; ``descriptions`` (``d404=``)
    word a code for that route, ``examples`` show its own body for one."""
    return {
        code: {
            "model": ErrorBody,
            "description": descriptions.get(f"d{code}", DESCRIPTIONS[code]),
            "content": {
                "application/json": {"example": (examples or {}).get(code, EXAMPLES[code])}
            },
        }
        for code in codes
    }
