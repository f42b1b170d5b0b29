"""A cap on request bodies, checked before anything parses them.

A body over the cap is a 413 with a JSON body naming the limit and the setting that
sets it: refused from its Content-Length before it is read, or, when sent without one
(chunked), as soon as the bytes received pass the cap. The CSV import has its own,
larger cap: it streams its file instead of holding it.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

IMPORT_PATHS = frozenset({"/api/contacts/import"})


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` mid-body; FastAPI passes an HTTPException through as it is."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit, setting))


def too_large_message(limit: int, setting: str) -> str:
    return f"the request body is larger than {limit:,} bytes ({setting})"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_import_bytes: int) -> None:
        self.app = app
        self._max_body_bytes = max_body_bytes
        self._max_import_bytes = max_import_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in IMPORT_PATHS:
            limit, setting = self._max_import_bytes, "API_MAX_IMPORT_BYTES"
        else:
            limit, setting = self._max_body_bytes, "API_MAX_BODY_BYTES"
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            message = too_large_message(limit, setting)
            response = JSONResponse(
                {"detail": message, "message": message, "field": "body", "limitBytes": limit},
                status_code=413,
            )
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        await self.app(scope, receive_within_limit, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
