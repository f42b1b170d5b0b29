"""Characters refused in what the api stores and sends: control characters and bidi
embeddings, overrides and isolates.

A NUL or an escape reaches the recipient's phone as it is, and a bidi override makes
a message read differently from what its author saw ("Trojan Source"). The left-to-right
and right-to-left marks (U+200E, U+200F) stay allowed: Arabic and Hebrew text uses them
legitimately and they reorder nothing beyond the neighbouring neutral characters.
"""

from __future__ import annotations

import re

_BIDI = "\u202a-\u202e\u2066-\u2069"
_CONTROLS = "\x00-\x1f\x7f-\x9f"
# A message body may hold line breaks and tabs; a name or a variable may not.
_UNSAFE = re.compile(f"[{_CONTROLS}{_BIDI}]")
_ALLOWED_IN_TEXT = frozenset("\n\r\t")


def unsafe_character(value: str, *, multiline: bool = False) -> str | None:
    """A description of the first refused character of ``value``, or None."""
    for match in _UNSAFE.finditer(value):
        char = match.group()
        if multiline and char in _ALLOWED_IN_TEXT:
            continue
        return f"U+{ord(char):04X} at position {match.start()}"
    return None


def require_safe(value: str, *, multiline: bool = False) -> str:
    """``value`` itself, or a ValueError naming its first refused character."""
    found = unsafe_character(value, multiline=multiline)
    if found is not None:
        allowed = " (line breaks and tabs are allowed)" if multiline else ""
        raise ValueError(f"control and bidi-override characters are not allowed{allowed}: {found}")
    return value
