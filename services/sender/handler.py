"""One SendMessage in, one outcome out: ledger, campaign control, limiter, Twilio.

Knows nothing of Kafka. The order of a send is: the ledger says nobody sent it
yet; the campaign is not stopped; the breaker lets calls through; the fair gate
gives its campaign a limiter slot and, in the same Redis script, the ledger claim
(compare-and-set, just before the call, so a claim's age bounds the call in
flight); Twilio answers; the ledger records the outcome. Only then does the caller
publish it. Ledger reads and records of concurrent commands share round trips
(services/sender/coalesce.py); each command's steps keep this order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import UTC, datetime

from services.sender.breaker import BreakerOpen
from services.sender.control import CampaignControl, Decision
from services.sender.fair_gate import FairGate
from services.sender.ledger import Ledger, LedgerEntry, LedgerState, Verdict, verdict
from services.sender.settings import SenderSettings
from services.sender.twilio_gateway import SendError, TwilioGateway
from shared.events.models import (
    MessageCancelled,
    MessageDeferred,
    MessageFailed,
    MessageOutcome,
    MessageSent,
    SendMessage,
)
from shared.lifecycle import has_expired
from shared.metrics import MESSAGES_FAILED, MESSAGES_SENT
from shared.retry import Backoff
from shared.store.holding import HoldingStore
from shared.store.suppressions import SuppressionCache
from shared.test_sends import lane_of
from shared.twilio_errors import UNSUBSCRIBED_RECIPIENT, is_retryable

log = logging.getLogger(__name__)

# Twilio's date_sent has one-second precision and clocks differ: look back this far.
RECONCILE_LOOKBACK_MS = 60_000
# How often to look again at a contact another sender is busy with.
BUSY_POLL_S = 0.25


class _ClaimLost:
    """Another sender changed the ledger entry under us: look again, do not send."""


CLAIM_LOST = _ClaimLost()


def outcome_from_entry(command: SendMessage, entry: LedgerEntry) -> MessageOutcome:
    """The outcome a final ledger entry recorded, to be published again."""
    if entry.state is LedgerState.SENT and entry.sid:
        return command.sent(entry.sid)
    code_text = f"Twilio error {entry.code}" if entry.code is not None else "no Twilio error code"
    return command.failed(
        entry.code, f"failed earlier ({code_text})", retryable=is_retryable(entry.code, None)
    )


def claim_stale_after_ms(settings: SenderSettings) -> int:
    """A claim younger than this has a live owner whose call may still be in flight."""
    return int((settings.twilio_timeout_s + settings.ledger_claim_margin_s) * 1000)


def _since(at_ms: int) -> datetime:
    return datetime.fromtimestamp((at_ms - RECONCILE_LOOKBACK_MS) / 1000, UTC)


class SendHandler:
    """One command's send, from the ledger read to the recorded outcome.

    Longer than most classes on purpose: the attempts, the reconciliation with Twilio
    and the hold-backs share one ledger claim and the order of steps the module
    docstring gives; split apart, each part would be handed the claim's state and
    trusted to keep that order.
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        deferred_commands: HoldingStore,
        control: CampaignControl,
        gate: FairGate,
        gateway: TwilioGateway,
        settings: SenderSettings,
        suppressions: SuppressionCache | None = None,
    ) -> None:
        self._ledger = ledger
        self._suppressions = suppressions
        self._deferred = deferred_commands
        self._control = control
        self._gate = gate
        self._gateway = gateway
        self._max_attempts = settings.send_max_attempts
        self._backoff = Backoff(settings.send_retry_base_delay_ms, settings.send_retry_max_delay_ms)
        self._claim_stale_after_ms = claim_stale_after_ms(settings)
        # Fault testing: die after this many accepted messages, before recording them.
        self._crash_after_accepted = settings.sender_fault_crash_after_accepted
        self._accepted = 0

    async def handle(self, command: SendMessage) -> MessageOutcome | None:
        ids = {"campaign_id": command.campaign_id, "contact_id": command.contact_id}
        while True:
            snapshot = await self._ledger.read(command.campaign_id, command.contact_id)
            found = verdict(snapshot, self._claim_stale_after_ms)
            if found is Verdict.FINAL:
                assert snapshot.entry is not None
                log.info("already done: outcome re-emitted", extra=ids)
                return outcome_from_entry(command, snapshot.entry)
            if found is Verdict.BUSY:
                # Another sender (or a redelivered copy here) is calling Twilio for this
                # contact: wait for its outcome, or for its claim to go stale if it died.
                await asyncio.sleep(BUSY_POLL_S)
                continue
            if found is Verdict.IN_DOUBT:
                assert snapshot.entry is not None
                log.warning(
                    "claim left by a gone sender: reconciling with Twilio",
                    extra={**ids, "claimed_by": snapshot.entry.replica},
                )
                try:
                    sid = await self._find_at_twilio(command, snapshot.entry.at_ms)
                except SendError as error:
                    # Sending now could message the contact twice: report, keep the claim.
                    return command.failed(
                        error.code, f"outcome unknown: {error.message}", retryable=True
                    )
                if sid is not None:
                    await self._ledger.record(
                        command.campaign_id, command.contact_id, LedgerState.SENT, sid, None
                    )
                    return command.sent(sid)
            decision = await self._decide(command)
            if decision is not Decision.SEND:
                return await self._hold_back(command, decision, snapshot.raw)
            outcome = await self._send(command, snapshot.raw)
            if not isinstance(outcome, _ClaimLost):
                return outcome

    async def _send(
        self, command: SendMessage, expected_raw: str | None
    ) -> MessageOutcome | _ClaimLost:
        ids = {"campaign_id": command.campaign_id, "contact_id": command.contact_id}
        claim_raw = expected_raw
        last_error: SendError | None = None
        # After a timeout or a 5xx the message may be at Twilio: ask before sending again.
        unresolved_since_ms: int | None = None
        attempt = 0
        while attempt < self._max_attempts:
            if unresolved_since_ms is not None:
                try:
                    sid = await self._find_at_twilio(command, unresolved_since_ms)
                except SendError as error:
                    last_error = error
                    sid = None
                else:
                    unresolved_since_ms = None
                if sid is not None:
                    return await self._record_sent(command, sid)
            if unresolved_since_ms is None:
                await self._gateway.wait_until_closed()
                async with self._gate.turn(
                    command.from_number,
                    lane_of(command),
                    command.priority,
                    retry=attempt > 0,
                    claim=self._ledger.claim_request(
                        command.campaign_id, command.contact_id, claim_raw
                    ),
                ) as turn:
                    if turn.claim_lost:
                        log.info("claim taken by another sender", extra=ids)
                        return CLAIM_LOST
                    # Checked again after the wait for a turn: a pause must hold back the
                    # sends already queued here, not only those that come after it.
                    decision = await self._decide(command)
                    if decision is not Decision.SEND:
                        return await self._hold_back(command, decision, turn.claim_raw or claim_raw)
                    if not turn.granted:
                        continue  # resumed while leaving the queue: queue again, no attempt spent
                    claim_raw = turn.claim_raw
                    self._gate.sending(command.from_number, turn)
                    try:
                        sid = await self._gateway.create(command)
                    except BreakerOpen:
                        continue  # no request was made: the attempt is not spent
                    except SendError as error:
                        last_error = error
                    else:
                        return await self._record_sent(command, sid)
                assert last_error is not None
                if not last_error.retryable:
                    return await self._record_failed(command, last_error, retryable=False)
                if last_error.outcome_unknown:
                    unresolved_since_ms = LedgerEntry.from_json(claim_raw).at_ms
            attempt += 1
            log.info(
                "send attempt failed",
                extra={**ids, "attempt": attempt, "code": last_error and last_error.code},
            )
            if attempt >= self._max_attempts:
                break
            retry_after_s = last_error.retry_after_s if last_error else None
            await asyncio.sleep(self._backoff.delay_s(attempt, retry_after_s=retry_after_s))
            decision = await self._decide(command)
            if decision is not Decision.SEND and unresolved_since_ms is None:
                return await self._hold_back(command, decision, claim_raw)
        assert last_error is not None
        if unresolved_since_ms is not None:
            # Out of attempts: one last look turns an unknown outcome into a known one, so
            # that retry-failed may resend what Twilio does not have.
            try:
                sid = await self._find_at_twilio(command, unresolved_since_ms)
            except SendError:
                # Not recorded: the claim stays, and a redelivery reconciles it again.
                return command.failed(
                    last_error.code, f"outcome unknown: {last_error.message}", retryable=True
                )
            if sid is not None:
                return await self._record_sent(command, sid)
        return await self._record_failed(command, last_error, retryable=True)

    async def _find_at_twilio(self, command: SendMessage, since_ms: int) -> str | None:
        """The sid of the message Twilio has for this command, or None; asked once the
        breaker lets calls through, like a send. Raises SendError when Twilio cannot say."""
        while True:
            await self._gateway.wait_until_closed()
            try:
                return await self._gateway.find_sent(command, _since(since_ms))
            except BreakerOpen:
                continue  # it opened again meanwhile: no request was made

    async def _decide(self, command: SendMessage) -> Decision:
        if has_expired(command.expires_at, datetime.now(UTC)):
            return Decision.EXPIRE
        if command.test_send:
            # Whatever the campaign's status: a test goes to a draft or a paused one too
            # (shared/test_sends.py).
            return Decision.SEND
        return await self._control.decide(command.campaign_id)

    async def _hold_back(
        self, command: SendMessage, decision: Decision, claim_raw: str | None
    ) -> MessageCancelled | MessageDeferred:
        """Not now: cancelled for a stopped campaign, held in Redis for a paused one."""
        if claim_raw is not None:
            await self._ledger.release(command.campaign_id, command.contact_id, claim_raw)
        if decision is Decision.CANCEL:
            return command.cancelled("stopped")
        if decision is Decision.EXPIRE:
            return command.cancelled("expired")
        await self._deferred.hold_paused(command)
        return command.deferred("paused")

    async def _record_sent(self, command: SendMessage, sid: str) -> MessageSent:
        MESSAGES_SENT.labels(priority=command.priority).inc()
        if self._crash_after_accepted:
            self._accepted += 1
            if self._accepted >= self._crash_after_accepted:
                # The worst moment to die: Twilio has the message, the ledger does not.
                log.warning("fault hook: killing this sender before the ledger write")
                os.kill(os.getpid(), signal.SIGKILL)
        await self._ledger.record(
            command.campaign_id, command.contact_id, LedgerState.SENT, sid, None
        )
        return command.sent(sid)

    async def _record_failed(
        self, command: SendMessage, error: SendError, *, retryable: bool
    ) -> MessageFailed:
        await self._ledger.record(
            command.campaign_id, command.contact_id, LedgerState.FAILED, None, error.code
        )
        if error.code == UNSUBSCRIBED_RECIPIENT and self._suppressions is not None:
            # The person opted out at Twilio: no campaign should try them again. Into
            # the dispatcher's copy now; the metrics service records it from this result.
            await self._suppressions.add(command.to)
        MESSAGES_FAILED.labels(
            code=str(error.code) if error.code is not None else "none",
            retryable=str(retryable).lower(),
        ).inc()
        log.info(
            "send failed",
            extra={
                "campaign_id": command.campaign_id,
                "contact_id": command.contact_id,
                "code": error.code,
                "retryable": retryable,
            },
        )
        return command.failed(error.code, error.message, retryable=retryable)
