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

The rules (what a tick does, what a batch holds) are decisions.py's; one batch's
I/O is emission.py's. The stores come from the service object (app.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry import propagate

from services.dispatcher.decisions import batches_emitted, emit_credits, new_record, tick_step
from services.dispatcher.emission import BatchEmitter, audience_size
from services.dispatcher.positions import AudiencePositions
from services.dispatcher.ticks import TickSender
from shared.events.models import CampaignStarted, InlineAudience
from shared.lifecycle import BEGINS_SENDING_FROM, SENDING, move
from shared.metrics import BATCHES_EMITTED
from shared.store.campaigns import CampaignStore
from shared.store.expansion import ExpansionStore
from shared.store.holding import HoldingStore
from shared.store.progress import ProgressStore
from shared.store.recipients import AudienceExists, RecipientStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExpansionConfig:
    batch_size: int
    max_concurrent_batches: int


class Expander:
    def __init__(
        self,
        config: ExpansionConfig,
        *,
        campaigns: CampaignStore,
        recipients: RecipientStore,
        progress: ProgressStore,
        expansions: ExpansionStore,
        holding: HoldingStore,
        positions: AudiencePositions,
        ticks: TickSender,
        emitter: BatchEmitter,
    ) -> None:
        self._config = config
        self._campaigns = campaigns
        self._recipients = recipients
        self._progress = progress
        self._expansions = expansions
        self._holding = holding
        self._positions = positions
        self._ticks = ticks
        self._emitter = emitter
        # Started events of the campaigns this dispatcher is expanding: parsed once.
        self._started: dict[str, CampaignStarted] = {}

    async def on_started(self, event: CampaignStarted) -> None:
        """Take a campaign on: mark it sending and ask for its first tick.

        Idempotent: a redelivered start changes nothing once the campaign is sending.
        """
        total = audience_size(event)
        if isinstance(event.audience, InlineAudience):
            # Published straight to Kafka: its recipients are recorded like any other
            # campaign's, so that each one's outcome has a row to go to.
            with contextlib.suppress(AudienceExists):  # a redelivered start
                await self._recipients.freeze(event.campaign_id, event.audience.recipients)
        await self._mark_sending(event, total)
        trace_context: dict[str, str] = {}
        propagate.inject(trace_context)  # the start's span: each batch continues it
        await self._expansions.register(event, trace_context)
        self._started[event.campaign_id] = event
        log.info("processing campaign", extra={"campaign_id": event.campaign_id, "contacts": total})
        await self._ticks.request(event.campaign_id)

    async def advance(
        self, campaign_id: str, cursor: int, save_cursor: Callable[[int], None]
    ) -> None:
        """Emit what the campaign's credits allow from ``cursor`` on, or cancel its rest
        when it was stopped or expired."""
        await self._expansions.tick_arrived(campaign_id)
        event = self._started.get(campaign_id) or await self._expansions.started(campaign_id)
        progress = await self._progress.read(campaign_id)
        if event is None or progress is None:
            return  # expansion already over
        self._started[campaign_id] = event
        total, batch_size = progress.total, self._config.batch_size
        status = await self._campaigns.status(campaign_id) if cursor < total else None
        step = tick_step(cursor, total, status, event.expires_at, datetime.now(UTC))
        if step.action == "finish":
            await self._finish(campaign_id, total)
            return
        if step.action == "cancel" and step.reason is not None:
            cursor = await self._emitter.cancel_some(event, cursor, total, step.reason)
            save_cursor(cursor)
            await self._progress.record_emitted(
                campaign_id, batches_emitted(cursor, batch_size), cursor
            )
            if cursor < total:
                await self._ticks.request(campaign_id)
            else:
                log.info(
                    f"campaign {step.reason} during expansion", extra={"campaign_id": campaign_id}
                )
                await self._finish(campaign_id, total)
            return
        if step.action == "wait":
            return
        credits = emit_credits(
            cursor,
            progress.processed,
            await self._holding.counts(campaign_id),
            batch_size,
            self._config.max_concurrent_batches,
        )
        batches_total = batches_emitted(total, batch_size)
        trace_context = await self._expansions.trace_context(campaign_id) if credits else {}
        for _ in range(credits):
            if cursor >= total:
                break
            batch_index = cursor // batch_size
            recipients = await self._emitter.page(event, cursor, batch_size - cursor % batch_size)
            await self._emitter.emit(event, batch_index, cursor, recipients, trace_context)
            cursor += len(recipients)
            save_cursor(cursor)
            await self._progress.record_emitted(campaign_id, batch_index + 1, cursor)
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
        await self._expansions.forget(campaign_id)
        self._started.pop(campaign_id, None)

    async def _finish(self, campaign_id: str, total: int) -> None:
        await self.abandon(campaign_id)
        await self._positions.forget(campaign_id)
        log.info("campaign expanded", extra={"campaign_id": campaign_id, "contacts": total})

    async def _mark_sending(self, event: CampaignStarted, total: int) -> None:
        """Idempotent: a redelivered start changes nothing once the campaign is sending."""
        now = datetime.now(UTC)
        # Published straight to Kafka by another service, the campaign is new here.
        if not await self._campaigns.create(new_record(event, total, now), active=True):
            await move(
                self._campaigns,
                event.campaign_id,
                BEGINS_SENDING_FROM,
                SENDING,
                started_at=now.isoformat(),
                total=str(total),
            )
        await self._progress.begin(
            event.campaign_id, total, self._config.batch_size, int(now.timestamp() * 1000)
        )
