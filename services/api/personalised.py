"""What a campaign's message becomes for each recipient, checked before it is accepted.

The dispatcher fills ``{{name}}``, ``{{phone}}`` and ``{{<var>}}`` per contact with
:func:`shared.personalise.fill`; the same function is used here, so what
is checked is what would be sent. Two things are refused at create rather than found
at send time: a variable a contact cannot fill (unless ``missingVars`` says what to do),
and a text that outgrows WhatsApp's 1,600 characters once filled in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from services.api.audience import IndexedRecipient
from services.api.errors import InvalidInput
from services.api.schemas.base import MAX_MESSAGE_CHARS
from services.api.schemas.campaigns import MissingVars
from shared.events.models import MessageContent, Recipient, TextContent
from shared.personalise import contact_fields, fill


class _RecordingFields(dict[str, str]):
    """A contact's fields that note each placeholder ``fill`` looks up in vain."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(fields)
        self.missing: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.missing.add(key)
        return super().get(key, default)


def _texts(content: MessageContent) -> list[tuple[tuple[str, ...], str]]:
    """Where each text with placeholders sits in the request, and the text."""
    if isinstance(content, TextContent):
        return [(("message",), content.body)] if "{{" in content.body else []
    return [
        (("message", "contentVariables", key), value)
        for key, value in content.content_variables.items()
        if "{{" in value
    ]


def _filled(text: str, fields: dict[str, str]) -> str:
    # As personalise() does: a text made only of unknown placeholders goes unfilled.
    return fill(text, fields) or text


def personalised_audience(
    content: MessageContent, audience: Sequence[IndexedRecipient], missing_vars: MissingVars
) -> tuple[list[Recipient], int]:
    """The recipients to store, and how many were left out for lacking a variable.

    ``audience`` pairs each recipient with its index in the request's ``contacts``.
    Raises InvalidInput naming the missing variables (with ``missing_vars="error"``)
    or the first contact whose message would be too long.
    """
    texts = _texts(content)
    if not texts:
        return [recipient for _, recipient in audience], 0
    kept: list[Recipient] = []
    lacking: Counter[str] = Counter()
    skipped = 0
    for index, recipient in audience:
        fields = _RecordingFields(contact_fields(recipient, recipient.phone))
        filled = [(where, _filled(text, fields)) for where, text in texts]
        if fields.missing:
            lacking.update(fields.missing)
            if missing_vars == "skip":
                skipped += 1
                continue
        for where, text in filled:
            if len(text) > MAX_MESSAGE_CHARS:
                raise InvalidInput(
                    ("body", *where),
                    f"{len(text):,} characters once personalised for contacts[{index}] "
                    f"({recipient.phone}); WhatsApp takes at most {MAX_MESSAGE_CHARS:,}",
                    {"contact": index, "phone": recipient.phone, "length": len(text)},
                )
        kept.append(recipient)
    if lacking and missing_vars == "error":
        raise InvalidInput(
            ("body", "contacts"),
            f"contacts lack variables the message names: {_counted(lacking)}; give them, "
            'or set missingVars to "empty" (fill with nothing) or "skip" (leave them out)',
            {"missingVars": dict(lacking.most_common())},
        )
    if not kept:
        raise InvalidInput(
            ("body", "contacts"),
            f"every contact lacks a variable the message names ({_counted(lacking)}): "
            "nobody would be sent to",
            {"missingVars": dict(lacking.most_common())},
        )
    return kept, skipped


def _counted(lacking: Counter[str]) -> str:
    return ", ".join(
        f"{name} ({count:,} contact{'s' if count != 1 else ''})"
        for name, count in lacking.most_common()
    )
