"""A campaign request's audience entries as recipients: phones in E.164, stored contacts
read from the user's contacts, each recipient with its index in the request so that an
error can name the entry it came from."""

from __future__ import annotations

from collections.abc import Sequence

from services.api.contacts_store import Contact
from services.api.errors import InvalidInput
from services.api.phones import require_phone
from services.api.schemas.campaigns import AudienceItemCreate
from shared.events.models import Recipient

IndexedRecipient = tuple[int, Recipient]


def request_recipients(
    items: Sequence[AudienceItemCreate], stored: dict[str, Contact | None], region: str
) -> list[IndexedRecipient]:
    """The request's entries as recipients (stored contacts already read); CPU-bound."""
    recipients: list[IndexedRecipient] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.contact_id is not None:
            contact = stored.get(item.contact_id)
            if contact is None:
                raise InvalidInput(
                    ("body", "contacts", index), "unknown contact id", item.contact_id
                )
            if item.contact_id in seen:
                continue
            seen.add(item.contact_id)
            recipient = Recipient(
                contact_id=item.contact_id,
                phone=contact.phone,
                name=contact.name,
                vars=contact.vars,
            )
        else:
            assert item.phone is not None
            phone = require_phone(item.phone, region, ("body", "contacts", index, "phone"))
            recipient = Recipient(
                contact_id=f"inline-{index}", phone=phone, name=item.name, vars=item.vars
            )
        recipients.append((index, recipient))
    return recipients
