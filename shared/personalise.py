"""Per-contact message content: ``{{name}}``, ``{{phone}}`` and ``{{<var>}}`` filled in.

A contact's values can make a valid campaign text unsendable (too long for
WhatsApp): that contact fails with the reason, never the campaign's expansion.
"""

from __future__ import annotations

import re

from shared.events.models import MessageContent, Recipient, TemplateContent, TextContent

# WhatsApp's (and TextContent's) limit on a free-form body.
MAX_TEXT_LENGTH = 1600

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


class UnsendableContent(ValueError):
    """This contact's personalised content cannot be sent; the message says why."""


def contact_fields(recipient: Recipient, phone: str) -> dict[str, str]:
    fields = dict(recipient.vars)
    fields["phone"] = phone
    if recipient.name is not None:
        fields["name"] = recipient.name
    return fields


def fill(text: str, fields: dict[str, str]) -> str:
    """Replace known placeholders; an unknown one becomes empty rather than leak braces."""
    return _PLACEHOLDER.sub(lambda match: fields.get(match.group(1), ""), text)


def personalise(content: MessageContent, fields: dict[str, str]) -> MessageContent:
    if isinstance(content, TextContent):
        if "{{" not in content.body:
            return content
        # A body made only of unknown placeholders would be empty: send it unfilled.
        body = fill(content.body, fields) or content.body
        if len(body) > MAX_TEXT_LENGTH:
            raise UnsendableContent(
                f"personalised text is {len(body):,} characters; "
                f"WhatsApp allows {MAX_TEXT_LENGTH:,}"
            )
        return TextContent(body=body)
    if not any("{{" in value for value in content.content_variables.values()):
        return content
    return TemplateContent(
        content_sid=content.content_sid,
        content_variables={
            key: fill(value, fields) for key, value in content.content_variables.items()
        },
    )
