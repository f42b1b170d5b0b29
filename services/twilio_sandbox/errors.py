"""Twilio's error JSON, so the official client raises TwilioRestException with .code/.status."""

from __future__ import annotations

import orjson
from aiohttp import web

ERROR_MESSAGES: dict[int, str] = {
    20001: "Invalid parameter",
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    63016: (
        "Failed to send freeform message because you are outside the allowed window. "
        "Please use a Template."
    ),
    63024: "Invalid message recipient",
}

MORE_INFO_URL = "https://www.twilio.com/docs/errors/{code}"


def error_message(code: int) -> str:
    return ERROR_MESSAGES.get(code, f"Error {code}")


def error_body(code: int, http_status: int, message: str | None = None) -> dict[str, object]:
    return {
        "code": code,
        "message": message or error_message(code),
        "more_info": MORE_INFO_URL.format(code=code),
        "status": http_status,
    }


def error_response(
    code: int,
    http_status: int,
    message: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=http_status,
        body=orjson.dumps(error_body(code, http_status, message)),
        content_type="application/json",
        headers=headers,
    )
