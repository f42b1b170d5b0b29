"""What a campaign's message becomes for each recipient, checked before it is accepted.

The dispatcher fills ``{{name}}``, ``{{phone}}`` and ``{{<var>}}`` per contact with
:func:`shared.personalise.fill`; the same function is used here, so what
is checked is what would be sent. Two things are refused at create rather than found
at send time: a variable a contact cannot fill (unless ``missingVars`` says what to do),
and a text that outgrows WhatsApp's 1,600 characters once filled in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
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


class AudienceCheck:
    """Checks an audience one recipient at a time, so that a list of any size can be
    checked as it streams past: :meth:`keep` for each recipient, :meth:`finish` once.

    ``where`` names a recipient in error messages (by its place in the request's
    ``contacts``, or in a list); ``loc`` is the request field the errors point at.
    """

    def __init__(
        self,
        content: MessageContent,
        missing_vars: MissingVars,
        loc: tuple[str, ...] = ("body", "contacts"),
        where: Callable[[int], str] = lambda index: f"contacts[{index}]",
    ) -> None:
        self._texts = _texts(content)
        self._missing_vars = missing_vars
        self._loc = loc
        self._where = where
        self._lacking: Counter[str] = Counter()
        self.kept = 0
        self.skipped = 0

    def keep(self, index: int, recipient: Recipient) -> bool:
        """Whether the recipient stays in the audience. Raises InvalidInput for a
        message that would be too long once personalised for it."""
        if not self._texts:
            self.kept += 1
            return True
        fields = _RecordingFields(contact_fields(recipient, recipient.phone))
        filled = [(where, _filled(text, fields)) for where, text in self._texts]
        if fields.missing:
            self._lacking.update(fields.missing)
            if self._missing_vars == "skip":
                self.skipped += 1
                return False
        for where, text in filled:
            if len(text) > MAX_MESSAGE_CHARS:
                raise InvalidInput(
                    ("body", *where),
                    f"{len(text):,} characters once personalised for {self._where(index)} "
                    f"({recipient.phone}); WhatsApp takes at most {MAX_MESSAGE_CHARS:,}",
                    {"contact": index, "phone": recipient.phone, "length": len(text)},
                )
        self.kept += 1
        return True

    @property
    def lacking(self) -> dict[str, int]:
        """Each variable the message names that recipients checked so far lacked, with
        how many lacked it, most lacked first (what a preview shows)."""
        return dict(self._lacking.most_common())

    def finish(self) -> None:
        """Raises InvalidInput naming the missing variables (with ``missing_vars="error"``),
        or when nobody is left to send to."""
        lacking = self._lacking
        if lacking and self._missing_vars == "error":
            raise InvalidInput(
                self._loc,
                f"contacts lack variables the message names: {_counted(lacking)}; give them, "
                'or set missingVars to "empty" (fill with nothing) or "skip" (leave them out)',
                {"missingVars": dict(lacking.most_common())},
            )
        if not self.kept:
            why = (
                f"every contact lacks a variable the message names ({_counted(lacking)})"
                if lacking
                else "the audience is empty"
            )
            raise InvalidInput(
                self._loc, f"{why}: nobody would be sent to", {"missingVars": dict(lacking)}
            )


def personalised_audience(
    content: MessageContent, audience: Sequence[IndexedRecipient], missing_vars: MissingVars
) -> tuple[list[Recipient], int]:
    """The recipients to store, and how many were left out for lacking a variable.

    ``audience`` pairs each recipient with its index in the request's ``contacts``.
    Raises InvalidInput as :class:`AudienceCheck` does.
    """
    check = AudienceCheck(content, missing_vars)
    kept = [recipient for index, recipient in audience if check.keep(index, recipient)]
    check.finish()
    return kept, check.skipped


def _counted(lacking: Counter[str]) -> str:
    return ", ".join(
        f"{name} ({count:,} contact{'s' if count != 1 else ''})"
        for name, count in lacking.most_common()
    )
