"""A NUL in a path or query parameter is refused as a 422 naming the parameter.

PostgreSQL's text type cannot hold U+0000: an id such as `listId=%00` reached the
database and came back as a 500 (the API fuzzer found it). Every route takes its ids as
plain strings, so the check sits in one app-wide dependency instead of in each route.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError

_NUL = "\x00"
_PROBLEM = "must not contain a NUL character (U+0000)"


async def refuse_nul_parameters(request: Request) -> None:
    # Every request passes here: the scope's own path and raw query decide the common
    # case without building the request's URL or parsing its query.
    path = request.scope["path"]
    if b"%00" not in request.scope.get("query_string", b"") and _NUL not in path:
        return
    problems = [
        {"type": "value_error", "loc": ("path", name), "msg": _PROBLEM, "input": value}
        for name, value in request.path_params.items()
        if isinstance(value, str) and _NUL in value
    ]
    problems += [
        {"type": "value_error", "loc": ("query", name), "msg": _PROBLEM, "input": value}
        for name, value in request.query_params.multi_items()
        if _NUL in value or _NUL in name
    ]
    if not problems and _NUL in path:
        problems.append({"type": "value_error", "loc": ("path",), "msg": _PROBLEM, "input": None})
    if problems:
        raise RequestValidationError(problems)
