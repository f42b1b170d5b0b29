"""A request's problems in a person's words, the one place that words them.

Pydantic says "String should have at least 1 character" about ``contacts[1].phone``; a
marketer needs "Contact 2, phone is required". Each 422 problem keeps pydantic's
``type``, ``loc`` and ``msg`` for programs, and gains ``words`` (what is wrong, without
the field: the web form puts it beside the field, or after "Line 3:") and ``text`` (the
whole sentence). Rows and items are counted from 1, dates get an example.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

DATE_EXAMPLE = "for example 2026-12-24T09:00:00+01:00"

FIELD_NAMES = {
    "name": "Name",
    "message": "Message",
    "contacts": "Contacts",
    "contentSid": "Template content SID",
    "contentVariables": "Template variables",
    "scheduledAt": "Schedule",
    "expiresAt": "Expiry",
    "priority": "Priority",
    "listId": "Saved list",
    "phone": "Phone",
    "phones": "Phone numbers",
    "fromNumber": "From number",
    "messagingServiceSid": "Messaging service SID",
    "sendWindow": "Send window",
    "file": "File",
    "search": "Search",
}
# What a value of a fixed form looks like, for "is not in the expected form".
FORMS = {
    "contentSid": "HX followed by 32 hex digits",
    "messagingServiceSid": "MG followed by 32 hex digits",
}
# Where pydantic names the branch of a union or the request part, not a field.
_NOT_FIELDS = {"body", "query", "path", "header", "str", "function-after"}
# Words that make a predicate of their own: "Name is required", but "Phone: not a valid
# phone number (...)".
_PREDICATE = re.compile(r"^(is|are|must|needs|need) ")


def problem_words(problem: dict[str, Any]) -> str:
    """What is wrong with a value, without naming it."""
    kind = str(problem.get("type") or "")
    msg = str(problem.get("msg") or "")
    value = problem.get("input")
    empty_text = isinstance(value, str) and not value.strip()
    if kind == "missing" or (kind.endswith("too_short") and empty_text):
        return "is required"
    if kind == "too_short" and isinstance(value, list | tuple) and not value:
        return "must have at least one entry"
    if kind.startswith(("datetime", "date_", "timezone")):
        return f"is not a date and time ({DATE_EXAMPLE})"
    if kind in ("string_too_long", "too_long"):
        most = re.search(r"at most (\d+)", msg)
        unit = "entries" if kind == "too_long" else "characters"
        return f"is too long (at most {most[1]} {unit})" if most else "is too long"
    if kind in ("enum", "literal_error"):
        return "must be " + msg.removeprefix("Input should be ").replace("'", "")
    if kind.startswith(("int_", "float_")):
        return "must be a number"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return msg.replace("Input should be ", "must be ", 1)
    if kind == "string_pattern_mismatch":
        names = [part for part in problem.get("loc") or () if isinstance(part, str)]
        form = FORMS.get(names[-1]) if names else None
        return f"is not in the expected form ({form})" if form else "is not in the expected form"
    text = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return text[:1].lower() + text[1:] if text else "is not valid"


def field_words(loc: Sequence[str | int]) -> str:
    """``("body", "contacts", 1, "phone")`` -> ``Contact 2, phone``."""
    parts = [part for part in loc if part not in _NOT_FIELDS]
    words: list[str] = []
    for index, part in enumerate(parts):
        if isinstance(part, int):
            owner = parts[index - 1] if index else None
            item = f"contact {part + 1}" if owner == "contacts" else f"item {part + 1}"
            # "Contacts, contact 2" says the list twice: the item stands for it.
            if words and owner in ("contacts", "phones"):
                words.pop()
            words.append(item)
        elif index and parts[index - 1] == "contentVariables":
            words[-1:] = [f"variable {{{{{part}}}}}"]
        else:
            name = FIELD_NAMES.get(part) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", part).lower()
            words.append(name[:1].lower() + name[1:] if words else name)
    text = ", ".join(words)
    if not text:
        return "The request body" if list(loc)[:1] == ["body"] else "The request"
    return text[:1].upper() + text[1:]


def joined(subject: str, words: str) -> str:
    return f"{subject} {words}" if _PREDICATE.match(words) else f"{subject}: {words}"


def sentence(problem: dict[str, Any]) -> str:
    return joined(field_words(problem.get("loc") or ()), problem_words(problem))


def worded(problem: dict[str, Any]) -> dict[str, Any]:
    """The problem as the API answers it: pydantic's keys, then the words."""
    return {**problem, "words": problem_words(problem), "text": sentence(problem)}
