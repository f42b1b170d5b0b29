"""A campaign's message sent by hand to a few numbers, to see it on a phone first.

The least invasive design we found (shared/test_sends.py has the whole of it): the api
writes one SendMessage per number to message.commands, flagged ``testSend`` and under a
contact id of its own space (``test-send:<uuid>``), so it goes the way of every real
send: the senders' shared rate limiter, the idempotency ledger, the circuit breaker and
the official twilio client. Its outcome goes to message.results like any other, and
the metrics service folds none of it into the campaign: queue-status, progress, the
recipients table and the dashboard stay as they were, and so does the campaign's status.

The message is personalised as the dispatcher would (shared/personalise.py), with the
variables of the campaign's first recipient as samples, so that a `{{code}}` shows a
real value, and the name ``Test`` (a number is not a contact and has no name).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka.errors import KafkaError

from services.api.auth import User
from services.api.campaigns import CampaignReader
from services.api.errors import EventNotWritten, InvalidInput
from services.api.phones import INVALID_PHONE
from services.api.publisher import SOURCE
from services.api.schemas.before_send import TestMessagePublic
from services.api.settings import ApiSettings
from shared.events.models import Recipient, SendMessage, TextContent
from shared.kafka import send_events
from shared.personalise import UnsendableContent, contact_fields, personalise
from shared.phones import normalise_phone, whatsapp_address
from shared.renewing_producer import RenewingProducer
from shared.store.campaigns import CampaignRecord
from shared.store.recipients import RecipientStore
from shared.store.suppressions import SuppressionStore
from shared.test_sends import new_test_contact_id
from shared.topics import Topics

log = logging.getLogger(__name__)

# The name of a test recipient: a number given by hand is nobody's contact.
TEST_NAME = "Test"


def numbers_to_test(raw: Sequence[str], region: str) -> list[str]:
    """The numbers in E.164, each once; InvalidInput on ``phones`` naming the 1-based
    item of the first that is not a phone number."""
    phones: list[str] = []
    for number, text in enumerate(raw, start=1):
        e164 = normalise_phone(text, region)
        if e164 is None:
            raise InvalidInput(("body", "phones"), f"item {number}: {INVALID_PHONE}", text)
        if e164 not in phones:
            phones.append(e164)
    return phones


class TestSender:
    """Sends a campaign's message to numbers given by hand, counted in nothing."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        settings: ApiSettings,
        reader: CampaignReader,
        recipients: RecipientStore,
        producer: RenewingProducer,
    ) -> None:
        self._settings = settings
        self._reader = reader
        self._recipients = recipients
        self._producer = producer
        self._topic = Topics.from_settings(settings).message_commands

    async def send(
        self, user: User, campaign_id: str, raw_phones: Sequence[str], opt_outs: SuppressionStore
    ) -> list[tuple[str, SendMessage]]:
        """Queue one test message per number (any status; the status is left alone).
        Returns each number (E.164) with its command once Kafka acknowledged them all."""
        record = await self._reader.get(user, campaign_id)
        phones = numbers_to_test(raw_phones, self._settings.default_phone_region)
        opted_out = await opt_outs.suppressed_among(phones)
        for number, phone in enumerate(phones, start=1):
            if phone in opted_out:
                raise InvalidInput(
                    ("body", "phones"), f"item {number}: {phone} opted out of messages", phone
                )
        sample = await self._recipients.page(campaign_id, 0, 1)
        sample_vars = sample[0].vars if sample else {}
        commands = [(phone, self._command(record, phone, sample_vars)) for phone in phones]
        try:
            await send_events(
                self._producer,
                self._topic,
                [(f"{campaign_id}:{c.contact_id}".encode(), c) for _, c in commands],
                source=SOURCE,
            )
        except KafkaError as error:
            raise EventNotWritten(f"test send for {campaign_id}: {error}") from error
        log.info(
            "test send queued",
            extra={
                "campaign_id": campaign_id,
                "requested_by": user.id,
                "contact_ids": [c.contact_id for _, c in commands],
            },
        )
        return commands

    def _command(
        self, record: CampaignRecord, phone: str, sample_vars: dict[str, str]
    ) -> SendMessage:
        recipient = Recipient(
            contact_id=new_test_contact_id(), phone=phone, name=TEST_NAME, vars=sample_vars
        )
        try:
            content = personalise(record.content, contact_fields(recipient, phone))
        except UnsendableContent as reason:
            raise InvalidInput(("body", "phones"), str(reason), phone) from None
        return SendMessage(
            campaign_id=record.id,
            contact_id=recipient.contact_id,
            to=whatsapp_address(phone),
            from_number=self._sender_of(record, phone),
            content=content,
            priority="high",
            test_send=True,
        )

    def _sender_of(self, record: CampaignRecord, phone: str) -> str:
        """The number the campaign would send this phone from: its own, one of its
        Messaging Service's pool (the same for a phone every time), or the default."""
        directory = self._settings.sender_directory
        sid = record.messaging_service_sid
        pool = directory.pool(sid) if sid else None
        if pool:
            return whatsapp_address(directory.choose(pool, phone))
        return whatsapp_address(record.from_number or self._settings.twilio_whatsapp_number)


def queued_message(phone: str, command: SendMessage) -> TestMessagePublic:
    content = command.content
    text = content.body if isinstance(content, TextContent) else None
    return TestMessagePublic(
        id=command.contact_id,
        phone=phone,
        to=command.to,
        from_number=command.from_number,
        text=text,
        content_sid=None if isinstance(content, TextContent) else content.content_sid,
        content_variables=None
        if isinstance(content, TextContent)
        else dict(content.content_variables),
    )
