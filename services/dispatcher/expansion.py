"""A started campaign becomes batches of SendMessage commands, from a saved cursor on.

Expansion is at least once: a batch emitted just before a crash, whose cursor
was not yet saved, is emitted again after the restart. Everything downstream is
keyed so that this is harmless: the sender's ledger never sends a contact twice,
the progress fold counts a contact once, and the duplicate checks here remember
the audience position that first claimed a phone or contact id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from services.dispatcher.personalise import contact_fields, personalise
from shared.events.models import (
    CampaignStarted,
    Event,
    InlineAudience,
    MessageCancelled,
    MessageSkipped,
    Recipient,
    SendMessage,
    SendMessageBatch,
)
from shared.kafka import send_events
from shared.phones import normalise_phone, whatsapp_address
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.progress import ProgressStore
from shared.topics import Topics

log = logging.getLogger(__name__)
SOURCE = "/services/dispatcher"
STARTABLE = frozenset({"draft", "scheduled", "queued"})


@dataclass(frozen=True, slots=True)
class ExpansionConfig:
    batch_size: int
    commands_per_record: int
    default_from_number: str


class Expander:
    def __init__(
        self,
        config: ExpansionConfig,
        producer: AIOKafkaProducer,
        redis: Redis,
        keys: Keys,
        topics: Topics,
    ) -> None:
        self._config = config
        self.producer = producer
        self._redis = redis
        self._keys = keys
        self._topics = topics
        self.campaigns = CampaignStore(redis, keys)
        self.progress = ProgressStore(redis, keys)

    async def on_started(
        self, event: CampaignStarted, cursor: int, save_cursor: Callable[[int], None]
    ) -> None:
        """Emit the campaign's batches from ``cursor`` on, saving the cursor after each."""
        campaign_id = event.campaign_id
        total = await self._audience_size(event)
        await self._mark_sending(event, total)
        batch_size = self._config.batch_size
        batches_total = -(-total // batch_size)
        log.info(
            "processing campaign",
            extra={"campaign_id": campaign_id, "contacts": total, "from_index": cursor},
        )
        start = cursor - cursor % batch_size
        while start < total:
            batch_index = start // batch_size
            recipients = await self._recipients(event, start, batch_size)
            if event.expires_at is not None and datetime.now(UTC) >= event.expires_at:
                await self._cancel_rest(event, start, total, reason="expired")
                save_cursor(total)
                log.info("campaign expired during expansion", extra={"campaign_id": campaign_id})
                return
            if await self.campaigns.status(campaign_id) == "stopped":
                await self._cancel_rest(event, start, total, reason="stopped")
                save_cursor(total)
                log.info("campaign stopped during expansion", extra={"campaign_id": campaign_id})
                return
            await self._emit_batch(event, batch_index, start, recipients)
            start += len(recipients)
            save_cursor(start)
            await self.progress.record_batch_emitted(campaign_id, batch_index)
            log.info(
                "processing batch",
                extra={
                    "campaign_id": campaign_id,
                    "batch": f"{batch_index + 1}/{batches_total}",
                    "contacts": len(recipients),
                },
            )
        log.info("campaign expanded", extra={"campaign_id": campaign_id, "batches": batches_total})

    async def _audience_size(self, event: CampaignStarted) -> int:
        if isinstance(event.audience, InlineAudience):
            return len(event.audience.recipients)
        return await self.campaigns.audience_size(event.campaign_id)

    async def _recipients(self, event: CampaignStarted, start: int, count: int) -> list[Recipient]:
        if isinstance(event.audience, InlineAudience):
            return event.audience.recipients[start : start + count]
        return await self.campaigns.audience_slice(event.campaign_id, start, count)

    async def _mark_sending(self, event: CampaignStarted, total: int) -> None:
        """Idempotent: a redelivered start changes nothing once the campaign is sending."""
        now = datetime.now(UTC)
        record = await self.campaigns.get(event.campaign_id)
        if record is None:  # published straight to Kafka by another service
            record = CampaignRecord(
                id=event.campaign_id,
                owner_id=event.owner_id,
                name=event.name,
                status="sending",
                priority=event.priority,
                content=event.content,
                from_number=event.from_number,
                total=total,
                job_id=event.job_id,
                created_at=now,
                started_at=now,
            )
            await self.campaigns.save(record)
            await self.campaigns.mark_active(record.id)
        elif record.status in STARTABLE:
            await self.campaigns.set_fields(
                event.campaign_id, status="sending", started_at=now.isoformat(), total=str(total)
            )
        await self.progress.begin(
            event.campaign_id, total, self._config.batch_size, int(now.timestamp() * 1000)
        )

    async def _emit_batch(
        self, event: CampaignStarted, batch_index: int, start: int, recipients: Sequence[Recipient]
    ) -> None:
        inline = isinstance(event.audience, InlineAudience)
        claims = await self._claim_positions(event.campaign_id, start, recipients, inline)
        from_number = whatsapp_address(event.from_number or self._config.default_from_number)
        commands: list[SendMessage] = []
        results: list[Event] = []
        for offset, recipient in enumerate(recipients):
            position = start + offset
            phone, duplicate_of_contact, duplicate_of_phone = claims[offset]
            contact_id = recipient.contact_id
            if duplicate_of_contact:
                # Two entries with one contact id: each entry still needs its own outcome.
                contact_id = f"{recipient.contact_id}@{position}"
            common = {
                "campaign_id": event.campaign_id,
                "contact_id": contact_id,
                "to": whatsapp_address(phone or recipient.phone),
                "batch_index": batch_index,
            }
            if phone is None:
                results.append(MessageSkipped(reason="invalid", **common))
            elif duplicate_of_contact or duplicate_of_phone:
                results.append(MessageSkipped(reason="duplicate", **common))
            else:
                content = personalise(event.content, contact_fields(recipient, phone))
                commands.append(
                    SendMessage(
                        from_number=from_number,
                        content=content,
                        expires_at=event.expires_at,
                        **common,
                    )
                )
        await self._produce(event.campaign_id, batch_index, commands, results)

    async def _claim_positions(
        self, campaign_id: str, start: int, recipients: Sequence[Recipient], normalise: bool
    ) -> list[tuple[str | None, bool, bool]]:
        """For each recipient: its E.164 phone (None if invalid), and whether an earlier
        audience position already holds its contact id or its phone."""
        phones = [
            normalise_phone(r.phone) if normalise else r.phone for r in recipients
        ]  # stored audiences were normalised by the api
        contacts_key = self._keys("campaign", campaign_id, "positions", "contacts")
        phones_key = self._keys("campaign", campaign_id, "positions", "phones")
        async with self._redis.pipeline(transaction=False) as pipe:
            for offset, recipient in enumerate(recipients):
                position = start + offset
                pipe.hsetnx(contacts_key, recipient.contact_id, position)
                pipe.hget(contacts_key, recipient.contact_id)
                if phones[offset] is not None:
                    pipe.hsetnx(phones_key, phones[offset], position)
                    pipe.hget(phones_key, phones[offset])
            replies = iter(await pipe.execute())
        claims = []
        for offset in range(len(recipients)):
            position = start + offset
            next(replies)
            duplicate_contact = int(next(replies)) != position
            duplicate_phone = False
            if phones[offset] is not None:
                next(replies)
                duplicate_phone = int(next(replies)) != position
            claims.append((phones[offset], duplicate_contact, duplicate_phone))
        return claims

    async def _produce(
        self,
        campaign_id: str,
        batch_index: int,
        commands: list[SendMessage],
        results: list[Event],
    ) -> None:
        size = self._config.commands_per_record
        # One key per record spreads a campaign over every partition, so every sender
        # replica shares it.
        records = [
            (
                f"{campaign_id}:{batch_index}:{chunk_start}".encode(),
                SendMessageBatch(
                    campaign_id=campaign_id,
                    batch_index=batch_index,
                    commands=commands[chunk_start : chunk_start + size],
                ),
            )
            for chunk_start in range(0, len(commands), size)
        ]
        await send_events(self.producer, self._topics.message_commands, records, source=SOURCE)
        key = campaign_id.encode()
        await send_events(
            self.producer,
            self._topics.message_results,
            [(key, result) for result in results],
            source=SOURCE,
        )

    async def _cancel_rest(
        self, event: CampaignStarted, start: int, total: int, reason: Literal["stopped", "expired"]
    ) -> None:
        """A stop or expiry during expansion: every contact not yet emitted ends so."""
        batch_size = self._config.batch_size
        while start < total:
            recipients = await self._recipients(event, start, batch_size)
            batch_index = start // batch_size
            cancelled: list[Event] = [
                MessageCancelled(
                    campaign_id=event.campaign_id,
                    contact_id=r.contact_id,
                    to=whatsapp_address(r.phone),
                    batch_index=batch_index,
                    reason=reason,
                )
                for r in recipients
            ]
            await self._produce(event.campaign_id, batch_index, [], cancelled)
            start += len(recipients)
