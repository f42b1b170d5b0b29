"""Per-contact message content: ``{{name}}``, ``{{phone}}`` and ``{{<var>}}`` filled in."""

from __future__ import annotations

import re

from shared.events.models import MessageContent, Recipient, TemplateContent, TextContent

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


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
        return TextContent(body=fill(content.body, fields) or content.body)
    if not any("{{" in value for value in content.content_variables.values()):
        return content
    return TemplateContent(
        content_sid=content.content_sid,
        content_variables={
            key: fill(value, fields) for key, value in content.content_variables.items()
        },
    )
