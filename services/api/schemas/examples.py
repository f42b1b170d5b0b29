"""One example per request and response body, as the OpenAPI document shows it.

A request example is the JSON a client sends. A response example is built from the
model itself and dumped as the API would answer: pydantic checks it, so an example
cannot drift from its schema unnoticed. ApiModel's config asks :func:`example_of` for
each model's example when the document is generated; tests/unit/test_schema_examples.py
validates the request examples.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from services.api.schemas import before_send, campaigns, contacts, lists, status_examples
from services.api.schemas import suppressions as sup
from services.api.schemas import tokens as tok
from services.api.schemas.rate_series import RatePointPublic, RateSeriesPublic
from services.api.schemas.recipients import RecipientResultPublic, RecipientResultsPublic

CAMPAIGN_ID = status_examples.CAMPAIGN_ID
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 2, 9, 4, 10, tzinfo=UTC)
PHONE = "+34611001000"
CONTACT = {"phone": PHONE, "name": "Ana", "vars": {"city": "Madrid"}}
MESSAGE = "Hola {{name}}, 20% off in {{city}} until Sunday."

# What a client sends, by model name.
REQUESTS: dict[str, dict[str, Any]] = {
    "CampaignCreate": {
        "name": "Spring sale",
        "message": MESSAGE,
        "contacts": [CONTACT, "ct_5e0c7a1b9d2f4e6a8c01"],
        "priority": "normal",
        "sendWindow": {"start": "09:00", "end": "20:00", "timezone": "Europe/Madrid"},
    },
    "CampaignPreviewCreate": {"message": MESSAGE, "listId": "ls_0a1b2c3d4e5f60718293", "limit": 3},
    "PreviewCreate": {"limit": 5},
    "TestSendCreate": {"phones": [PHONE]},
    "CampaignUpdate": {"name": "Spring sale (final)", "priority": "high", "scheduledAt": None},
    "ContactCreate": CONTACT,
    "ListCreate": {"name": "Madrid customers"},
    "MembersAdd": {"contactIds": ["ct_5e0c7a1b9d2f4e6a8c01", "ct_9b8a7c6d5e4f30211203"]},
    "SuppressionCreate": {"phone": PHONE},
}


def campaign(cls: type[campaigns.CampaignPublic] = campaigns.CampaignPublic) -> Any:
    return cls(
        id=CAMPAIGN_ID,
        name="Spring sale",
        status="queued",
        allowed_actions=["pause", "stop"],
        priority="normal",
        message=MESSAGE,
        total_contacts=2,
        created_at=AT,
        scheduled_at=None,
        expires_at=None,
        started_at=AT,
        finished_at=None,
        job_id=f"job-{CAMPAIGN_ID}",
        from_number=None,
    )


def contact() -> contacts.ContactPublic:
    return contacts.ContactPublic(id="ct_5e0c7a1b9d2f4e6a8c01", **CONTACT)


def a_list() -> lists.ListPublic:
    return lists.ListPublic(
        id="ls_0a1b2c3d4e5f60718293", name="Madrid customers", size=2, created_at=AT
    )


def preview() -> before_send.CampaignPreviewPublic:
    return before_send.CampaignPreviewPublic(
        campaign_id=CAMPAIGN_ID,
        total_recipients=2,
        messages=[
            before_send.MessagePreviewPublic(
                position=0,
                phone=PHONE,
                name="Ana",
                text="Hola Ana, 20% off in Madrid until Sunday.",
                content_sid=None,
                content_variables=None,
            )
        ],
        missing_variables=[before_send.MissingVariablePublic(variable="city", count=1)],
    )


def test_send() -> before_send.TestSendPublic:
    return before_send.TestSendPublic(
        campaign_id=CAMPAIGN_ID,
        messages=[
            before_send.TestMessagePublic(
                id="test-send:3f0e9a52-8d1b-4c47-9a63-0b5d2e7f1c84",
                phone=PHONE,
                to=f"whatsapp:{PHONE}",
                from_number="whatsapp:+14155238886",
                text="Hola Test, 20% off in Madrid until Sunday.",
                content_sid=None,
                content_variables=None,
            )
        ],
    )


def recipients() -> RecipientResultsPublic:
    sent = RecipientResultPublic(
        position=0,
        contact_id="ct_5e0c7a1b9d2f4e6a8c01",
        phone=PHONE,
        name="Ana",
        state="delivered",
        message_sid="SM" + "0f" * 16,
        outcome_at=AT,
        delivery_state="delivered",
        delivery_at=LATER,
    )
    failed = RecipientResultPublic(
        position=1,
        contact_id="ct_9b8a7c6d5e4f30211203",
        phone="+34611001001",
        state="failed",
        error_code=63016,
        error_meaning="needs a template: outside the 24 h window",
        outcome_at=AT,
    )
    return RecipientResultsPublic(recipients=[sent, failed], total=2, page=1, limit=50)


def suppression() -> sup.SuppressionPublic:
    return sup.SuppressionPublic(phone=PHONE, reason="api", added_at=AT)


# What the API answers, by model name: built when the document is.
RESPONSES: dict[str, Callable[[], BaseModel]] = {
    "CampaignPublic": campaign,
    "CampaignCreatedPublic": lambda: campaign(campaigns.CampaignCreatedPublic),
    "CampaignsPublic": lambda: campaigns.CampaignsPublic(
        campaigns=[campaign()], total=1, page=1, limit=20
    ),
    "CampaignStartPublic": lambda: campaigns.CampaignStartPublic(
        message="Campaign queued for sending",
        job_id=f"job-{CAMPAIGN_ID}",
        estimated_contacts=2,
        estimated_time=400,
        campaign=campaign(),
    ),
    "ControlPublic": lambda: campaigns.ControlPublic(message="Campaign paused", status="paused"),
    "StatusHistoryPublic": lambda: campaigns.StatusHistoryPublic(
        campaign_id=CAMPAIGN_ID,
        changes=[
            campaigns.StatusChangePublic(status="draft", previous=None, at=AT),
            campaigns.StatusChangePublic(status="queued", previous="draft", at=LATER),
        ],
    ),
    "CampaignPreviewPublic": preview,
    "TestSendPublic": test_send,
    "ContactsCreatedPublic": lambda: contacts.ContactsCreatedPublic(
        imported=1, created=1, updated=0, contacts=[contact()]
    ),
    "ContactsPublic": lambda: contacts.ContactsPublic(
        contacts=[contact()], total=1, page=1, limit=50
    ),
    "ImportPublic": lambda: contacts.ImportPublic(
        imported=2,
        created=1,
        updated=1,
        skipped=1,
        added_to_list=2,
        errors=[contacts.RowErrorPublic(row=4, message="phone: not a valid number: '12'")],
    ),
    "ListPublic": a_list,
    "ListsPublic": lambda: lists.ListsPublic(lists=[a_list()], total=1, page=1, limit=50),
    "MembersAddedPublic": lambda: lists.MembersAddedPublic(added=2, size=2),
    "MembersPublic": lambda: lists.MembersPublic(contacts=[contact()], total=1, page=1, limit=50),
    "RateSeriesPublic": lambda: RateSeriesPublic(
        campaign_id=CAMPAIGN_ID,
        bucket_seconds=1,
        points=[
            RatePointPublic(at=1_772_442_000, sent=18, failed=1, failed_after_acceptance=0),
            RatePointPublic(at=1_772_442_001, sent=20, failed=0, failed_after_acceptance=1),
        ],
    ),
    "RecipientResultsPublic": recipients,
    "SuppressionPublic": suppression,
    "SuppressionsPublic": lambda: sup.SuppressionsPublic(
        suppressions=[suppression()], total=1, page=1, limit=50
    ),
    "AuditPublic": lambda: sup.AuditPublic(
        entries=[
            sup.AuditEntryPublic(at=AT, action="added", phone=PHONE, reason="api", actor="alice")
        ],
        total=1,
        page=1,
        limit=50,
    ),
    "TokensPublic": lambda: tok.TokensPublic(
        tokens=[
            tok.TokenPublic(
                id="4f1c9a0e",
                user="alice",
                role="marketer",
                source="issued",
                created_at=AT,
                expires_at=None,
                expired=False,
            )
        ]
    ),
    **status_examples.RESPONSES,
}


def example_of(model: type[BaseModel]) -> dict[str, Any] | None:
    """``model``'s example as JSON, or None for a model shown only inside another."""
    name = model.__name__
    if name in REQUESTS:
        return REQUESTS[name]
    build = RESPONSES.get(name)
    return build().model_dump(mode="json", by_alias=True) if build is not None else None
