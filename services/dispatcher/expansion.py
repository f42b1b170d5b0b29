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

from aiokafka import AIOKafkaProducer
from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from services.dispatcher.admission import Admission
from services.dispatcher.command_batches import by_position, command_records
from services.dispatcher.pacing import batch_credits
from services.dispatcher.personalise import UnsendableContent, contact_fields, personalise
from services.dispatcher.positions import claim_positions
from services.dispatcher.republish import skipped_opted_out
from services.dispatcher.ticks import TickSender
from shared.events.models import (
    CampaignStarted,
    CancelReason,
    Event,
    InlineAudience,
    MessageFailed,
    MessagesCancelled,
    MessageSkipped,
    Recipient,
    SendMessage,
)
from shared.kafka import send_events
from shared.lifecycle import (
    BEGINS_SENDING_FROM,
    SENDING,
    STOPPED,
    THROTTLED,
    THROTTLES_FROM,
    has_expired,
    is_holding,
    move,
)
from shared.metrics import BATCHES_EMITTED
from shared.phones import whatsapp_address
from shared.redis import Keys
from shared.senders import SenderDirectory
from shared.store.campaigns import CampaignRecord, CampaignStore
from shared.store.expansion import ExpansionStore
from shared.store.held import HeldCommands
from shared.store.progress import ProgressStore
from shared.topics import Topics
from shared.tracing import tracer

log = logging.getLogger(__name__)
_tracer = tracer(__name__)
SOURCE = "/services/dispatcher"
# A stopped campaign's rest is cancelled this many batches per tick, so that a
# million cancellations do not hold the partition.
CANCEL_BATCHES_PER_TICK = 50


@dataclass(frozen=True, slots=True)
class ExpansionConfig:
    batch_size: int
    commands_per_record: int
    default_from_number: str
    max_concurrent_batches: int
    senders: SenderDirectory


def held_total(counts: dict[str, int]) -> int:
    return sum(counts.values())


class Expander:
    def __init__(
        self,
        config: ExpansionConfig,
        producer: AIOKafkaProducer,
        redis: Redis,
        keys: Keys,
        topics: Topics,
        admission: Admission,
    ) -> None:
        self._config = config
        self._admission = admission
        self.held = HeldCommands(redis, keys)
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
        # A stop is read first: it holds whatever is odd about the expiry.
        stopped = status == STOPPED
        expired = not stopped and has_expired(event.expires_at, datetime.now(UTC))
        if stopped or expired:
            reason: CancelReason = "expired" if expired else "stopped"
            cursor = await self._cancel_some(event, cursor, total, reason)
            save_cursor(cursor)
            await self.progress.record_emitted(campaign_id, -(-cursor // batch_size), cursor)
            if cursor < total:
                await self.ticks.request(campaign_id)
            else:
                log.info(f"campaign {reason} during expansion", extra={"campaign_id": campaign_id})
                await self._finish(campaign_id, total)
            return
        if is_holding(status):
            return  # a throttled campaign goes on when the held releaser frees it
        # Held commands wait for a time, not for a sender: they return no credits, yet
        # they must not hold back the recipients whose window is open.
        held = held_total(await self.held.counts(campaign_id))
        credits = batch_credits(
            cursor, progress.processed + held, batch_size, self._config.max_concurrent_batches
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

    async def abandon(self, campaign_id: str) -> None:
        """Expand the campaign no further: it failed. Its pending ticks then find nothing."""
        await self.expansions.forget(campaign_id)
        self._started.pop(campaign_id, None)

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
                status=SENDING,
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
        else:
            await move(
                self.campaigns,
                event.campaign_id,
                BEGINS_SENDING_FROM,
                SENDING,
                started_at=now.isoformat(),
                total=str(total),
            )
        await self.progress.begin(
            event.campaign_id, total, self._config.batch_size, int(now.timestamp() * 1000)
        )

    async def _emit_batch(
        self, event: CampaignStarted, batch_index: int, start: int, recipients: Sequence[Recipient]
    ) -> None:
        inline = isinstance(event.audience, InlineAudience)
        claims = await claim_positions(
            self._redis, self._keys, event.campaign_id, start, recipients, normalise=inline
        )
        choose_sender = self._sender_chooser(event)
        commands: list[SendMessage] = []
        results: list[Event] = []
        fields_by_contact: dict[str, dict[str, str]] = {}
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
                fields = contact_fields(recipient, phone)
                try:
                    content = personalise(event.content, fields)
                except UnsendableContent as reason:
                    results.append(
                        MessageFailed(
                            error_code=None, error_message=str(reason), retryable=False, **common
                        )
                    )
                    continue
                fields_by_contact[contact_id] = fields
                commands.append(
                    SendMessage(
                        from_number=choose_sender(phone),
                        content=content,
                        expires_at=event.expires_at,
                        priority=event.priority,
                        **common,
                    )
                )
        admitted = await self._admission.decide(commands, event.send_window, fields_by_contact)
        results.extend(skipped_opted_out(admitted.opted_out))
        await self.held.hold(event.campaign_id, "window", admitted.window_held)
        await self.held.hold(event.campaign_id, "tier", admitted.tier_held)
        await self._produce(event.campaign_id, batch_index, admitted.send, results)
        if (until_ms := admitted.throttled_until_ms) is not None:
            await self.throttle(event.campaign_id, until_ms)

    async def throttle(self, campaign_id: str, until_ms: int) -> None:
        """The sender's tier is used up: hold the rest of the campaign until ``until_ms``."""
        moved, _ = await move(
            self.campaigns, campaign_id, THROTTLES_FROM, THROTTLED, throttled_until_ms=str(until_ms)
        )
        if moved:
            log.info(
                "campaign throttled by its sender's messaging tier",
                extra={"campaign_id": campaign_id, "until_ms": until_ms},
            )

    def _sender_chooser(self, event: CampaignStarted) -> Callable[[str], str]:
        """The sender number of each recipient: the campaign's, or one of its pool's."""
        senders = self._config.senders
        pool = senders.pool(event.messaging_service_sid) if event.messaging_service_sid else None
        if not pool:
            if event.messaging_service_sid:
                log.warning(
                    "unknown Messaging Service: sending from the default number",
                    extra={"campaign_id": event.campaign_id},
                )
            number = whatsapp_address(event.from_number or self._config.default_from_number)
            return lambda _phone: number
        return lambda phone: whatsapp_address(senders.choose(pool, phone))

    async def _produce(
        self,
        campaign_id: str,
        batch_index: int,
        commands: list[SendMessage],
        results: list[Event],
    ) -> None:
        size = self._config.commands_per_record
        records = command_records(
            campaign_id, commands, size, by_position(campaign_id, batch_index)
        )
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
        reason: CancelReason,
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
