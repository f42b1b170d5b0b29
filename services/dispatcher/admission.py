"""Which of a batch's commands go to the senders now, and what happens to the others.

Three rules, in this order, each applied to what the previous one let through:
1. an opted-out recipient (the account's suppression list) is skipped, never sent;
2. a recipient outside the campaign's send window, in their own time zone, waits
   until it opens;
3. a recipient who would open a new conversation beyond the sender number's
   messaging tier waits until the rolling 24 h frees a place, and the campaign
   shows `throttled` until then.

Commands released from a hold go through all three again: a recipient may have
opted out, or the tier may have filled up, in the meantime.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.clock import Clock
from shared.events.models import SendMessage, SendWindow
from shared.phones import WHATSAPP_PREFIX
from shared.send_window import window_opens_ms
from shared.senders import SenderDirectory, bare_number
from shared.store.suppressions import SuppressionStore
from shared.store.tiers import TierStore


@dataclass(slots=True)
class Admitted:
    send: list[SendMessage] = field(default_factory=list)
    opted_out: list[SendMessage] = field(default_factory=list)
    window_held: list[tuple[SendMessage, int]] = field(default_factory=list)
    tier_held: list[tuple[SendMessage, int]] = field(default_factory=list)

    @property
    def throttled_until_ms(self) -> int | None:
        """When the tier frees a place for the first held recipient, if any is held."""
        return min((due for _, due in self.tier_held), default=None)


def recipient_phone(command: SendMessage) -> str:
    return command.to.removeprefix(WHATSAPP_PREFIX)


class Admission:
    def __init__(
        self,
        suppressions: SuppressionStore,
        tiers: TierStore,
        directory: SenderDirectory,
        clock: Clock,
    ) -> None:
        self._suppressions = suppressions
        self._tiers = tiers
        self._directory = directory
        self._clock = clock

    async def decide(
        self,
        commands: Sequence[SendMessage],
        window: SendWindow | None,
        fields_by_contact: dict[str, dict[str, str]] | None = None,
    ) -> Admitted:
        admitted = Admitted()
        if not commands:
            return admitted
        now_ms = await self._clock.now_ms()
        suppressed = await self._suppressions.suppressed_among(
            sorted({recipient_phone(c) for c in commands})
        )
        candidates: list[SendMessage] = []
        for command in commands:
            if recipient_phone(command) in suppressed:
                admitted.opted_out.append(command)
            elif (
                window is not None
                and (due_ms := self._window_opens_ms(command, window, fields_by_contact, now_ms))
                > now_ms
            ):
                admitted.window_held.append((command, due_ms))
            else:
                candidates.append(command)
        await self._apply_tiers(candidates, now_ms, admitted)
        return admitted

    def _window_opens_ms(
        self,
        command: SendMessage,
        window: SendWindow,
        fields_by_contact: dict[str, dict[str, str]] | None,
        now_ms: int,
    ) -> int:
        fields = (fields_by_contact or {}).get(command.contact_id, {})
        return window_opens_ms(window, recipient_phone(command), fields, now_ms)

    async def _apply_tiers(
        self, candidates: list[SendMessage], now_ms: int, admitted: Admitted
    ) -> None:
        by_number: dict[str, list[SendMessage]] = defaultdict(list)
        for command in candidates:
            by_number[bare_number(command.from_number)].append(command)
        for number, commands in by_number.items():
            limit = self._directory.tier_limit(number)
            if limit is None:
                admitted.send.extend(commands)
                continue
            decision = await self._tiers.admit(
                number, [recipient_phone(c) for c in commands], limit, now_ms
            )
            for command, allowed in zip(commands, decision.admitted, strict=True):
                if allowed:
                    admitted.send.append(command)
                else:
                    assert decision.reopens_at_ms is not None
                    admitted.tier_held.append((command, decision.reopens_at_ms))
