"""A started campaign becomes batches of SendMessage commands, paced by credits.

A campaign has at most ``max_concurrent_batches`` batches in flight: emitted,
their contacts not all with an outcome yet. Each tick (services/dispatcher/
pacing.py) emits as many batches as the credits allow, from a saved cursor on,
so the Kafka backlog, the work a stop throws away and every service's memory
stay bounded whatever the campaign's size, and a tick never holds the
partition long: pause and stop events behind it are read at once.

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
from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from services.dispatcher.pacing import batch_credits
from services.dispatcher.personalise import contact_fields, personalise
from services.dispatcher.ticks import TickSender
from shared.events.models import (
    CampaignStarted,
    Event,
    InlineAudience,
    MessagesCancelled,
    MessageSkipped,
    Recipient,
    SendMessage,
    SendMessageBatch,
)
from shared.kafka import send_events
from shared.metrics import BATCHES_EMITTED
from shared.phones import normalise_phone, whatsapp_address
from shared.redis import Keys
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.expansion import ExpansionStore
from shared.store.progress import ProgressStore
from shared.topics import Topics
from shared.tracing import tracer

log = logging.getLogger(__name__)
_tracer = tracer(__name__)
SOURCE = "/services/dispatcher"
STARTABLE = frozenset({"draft", "scheduled", "queued"})
# A stopped campaign's rest is cancelled this many batches per tick, so that a
# million cancellations do not hold the partition.
CANCEL_BATCHES_PER_TICK = 50


@dataclass(frozen=True, slots=True)
class ExpansionConfig:
    batch_size: int
    commands_per_record: int
    default_from_number: str
    max_concurrent_batches: int


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
        self.expansions = ExpansionStore(redis, keys)
        self.ticks = TickSender(producer, self.expansions, topics)
        # Started events of the campaigns this dispatcher is expanding: parsed once.
        self._started: dict[str, CampaignStarted] = {}

    async def on_started(self, event: CampaignStarted) -> None:
        """Take a campaign on: mark it sending and ask for its first tick.

        Idempotent: a redelivered start changes nothing once the campaign is sending.
        """
        total = await self._audience_size(event)
        await self._mark_sending(event, total)
        trace_context: dict[str, str] = {}
        propagate.inject(trace_context)  # the start's span: each batch continues it
        await self.expansions.register(event, trace_context)
        self._started[event.campaign_id] = event
        log.info("processing campaign", extra={"campaign_id": event.campaign_id, "contacts": total})
        await self.ticks.request(event.campaign_id)

    async def advance(
        self, campaign_id: str, cursor: int, save_cursor: Callable[[int], None]
    ) -> None:
        """Emit what the campaign's credits allow from ``cursor`` on, or cancel its rest
        when it was stopped or expired."""
        await self.expansions.tick_arrived(campaign_id)
        event = self._started.get(campaign_id) or await self.expansions.started(campaign_id)
        progress = await self.progress.read(campaign_id)
        if event is None or progress is None:
            return  # expansion already over
        self._started[campaign_id] = event
        total, batch_size = progress.total, self._config.batch_size
        if cursor >= total:
            await self._finish(campaign_id, total)
            return
        status = await self.campaigns.status(campaign_id)
        expired = event.expires_at is not None and datetime.now(UTC) >= event.expires_at
        if expired or status == "stopped":
            reason: Literal["stopped", "expired"] = "expired" if expired else "stopped"
            cursor = await self._cancel_some(event, cursor, total, reason)
            save_cursor(cursor)
            await self.progress.record_emitted(campaign_id, -(-cursor // batch_size), cursor)
            if cursor < total:
                await self.ticks.request(campaign_id)
            else:
                log.info(f"campaign {reason} during expansion", extra={"campaign_id": campaign_id})
                await self._finish(campaign_id, total)
            return
        if status == "paused":
            return
        credits = batch_credits(
            cursor, progress.processed, batch_size, self._config.max_concurrent_batches
        )
        batches_total = -(-total // batch_size)
        trace_context = await self.expansions.trace_context(campaign_id) if credits else {}
        for _ in range(credits):
            if cursor >= total:
                break
            batch_index = cursor // batch_size
            recipients = await self._recipients(event, cursor, batch_size - cursor % batch_size)
            with _tracer.start_as_current_span(
                "emit batch",
                context=propagate.extract(trace_context),
                kind=SpanKind.PRODUCER,
                attributes={
                    "campaign.id": campaign_id,
                    "campaign.batch.index": batch_index,
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": self._topics.message_commands,
                    "messaging.batch.message_count": len(recipients),
                },
            ):
                await self._emit_batch(event, batch_index, cursor, recipients)
            cursor += len(recipients)
            save_cursor(cursor)
            await self.progress.record_emitted(campaign_id, batch_index + 1, cursor)
            BATCHES_EMITTED.inc()
            log.info(
                "processing batch",
                extra={
                    "campaign_id": campaign_id,
                    "batch": f"{batch_index + 1}/{batches_total}",
                    "contacts": len(recipients),
                },
            )
        if cursor >= total:
            await self._finish(campaign_id, total)

    async def _finish(self, campaign_id: str, total: int) -> None:
        await self.expansions.forget(campaign_id)
        self._started.pop(campaign_id, None)
        # The duplicate checks are only needed while batches may be emitted again.
        await self._redis.delete(
            self._keys("campaign", campaign_id, "positions", "contacts"),
            self._keys("campaign", campaign_id, "positions", "phones"),
        )
        log.info("campaign expanded", extra={"campaign_id": campaign_id, "contacts": total})

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
                        priority=event.priority,
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

    async def _cancel_some(
        self,
        event: CampaignStarted,
        start: int,
        total: int,
        reason: Literal["stopped", "expired"],
    ) -> int:
        """A stop or expiry: the next contacts never emitted end so. Returns the new cursor."""
        batch_size = self._config.batch_size
        records: list[tuple[bytes, Event]] = []
        key = event.campaign_id.encode()
        while start < total and len(records) < CANCEL_BATCHES_PER_TICK:
            recipients = await self._recipients(event, start, batch_size - start % batch_size)
            cancelled = MessagesCancelled(
                campaign_id=event.campaign_id,
                batch_index=start // batch_size,
                contact_ids=[r.contact_id for r in recipients],
                reason=reason,
            )
            records.append((key, cancelled))
            start += len(recipients)
        await send_events(self.producer, self._topics.message_results, records, source=SOURCE)
        return start
