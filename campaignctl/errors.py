"""What goes wrong, as one line for stderr: the CLI's only way to report a failure.

A person reads ``error: <what>`` and exit code 1, never a traceback; the API's JSON
error bodies (see services/api/errors.py) supply the what. The HTTP status is for
scripts: it ends the line only under ``--json``, where a caller may branch on it.
"""

from __future__ import annotations

import re
from typing import Any


class CliError(Exception):
    """A failure the user can act on; shown as one line, exit code 1."""

    def line(self, with_status: bool = False) -> str:
        return one_line(f"error: {self}")


class ApiError(CliError):
    """The API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def line(self, with_status: bool = False) -> str:
        suffix = f" ({self.status})" if with_status else ""
        return one_line(f"error: {self}{suffix}")


def one_line(text: str) -> str:
    """Messages may quote user input with newlines in it; stderr gets one line whatever."""
    return re.sub(r"\s+", " ", text).strip()


def api_error(
    status: int, body: Any, method: str, path: str, unauthorised: str | None = None
) -> ApiError:
    """The error an API answer stands for, worded from its JSON body where there is one.

    ``unauthorised`` words a 401: only the caller knows where its token came from, and
    so whether logging in again would help.
    """
    fields = body if isinstance(body, dict) else {}
    message = fields.get("message") or fields.get("detail")
    if not isinstance(message, str):
        message = None
    campaign_id = fields.get("campaignId")
    if status == 401:
        reason = message or "not authenticated"
        hint = unauthorised or "run 'campaignctl login' or set CAMPAIGNCTL_TOKEN"
        return ApiError(status, f"{reason}: {hint}")
    if status == 422:
        return ApiError(status, _invalid(fields, message))
    if isinstance(campaign_id, str) and message:
        # "campaign x not found" -> "campaign 'x' not found": an id can be anything.
        return ApiError(
            status, message.replace(f"campaign {campaign_id}", f"campaign '{campaign_id}'", 1)
        )
    if status == 404 and (message is None or message == "Not Found"):
        # Nothing more specific in the body: the route itself is unknown to this API.
        return ApiError(status, f"not found: {method} {path}")
    return ApiError(status, message or f"{method} {path} failed")


def _invalid(fields: dict[str, Any], message: str | None) -> str:
    """422: the API's own words for the first problem ("Schedule must be in the future",
    rows counted from 1); an older API's field path and pydantic reason otherwise."""
    field = fields.get("field")
    detail = fields.get("detail")
    first = detail[0] if isinstance(detail, list) and detail and isinstance(detail[0], dict) else {}
    if isinstance(first.get("text"), str):
        more = len(detail) - 1
        return first["text"] + (f" (and {more} more)" if more else "")
    reason = first.get("msg")
    if isinstance(field, str) and isinstance(reason, str):
        return f"invalid {field}: {reason}"
    return f"invalid request: {message or 'the API refused the values'}"
