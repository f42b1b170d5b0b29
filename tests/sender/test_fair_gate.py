"""The fair gate's choice of campaign, with a limiter that grants every request at once.

The limiter's own timing is tested against Redis in tests/integration/test_limiter.py;
here only the order of grants between campaigns matters.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from services.sender.fair_gate import FairGate, Turn
from services.sender.limiter import Grant, Grants
from shared.events.models import Priority
from tests.helpers import eventually


class GrantingLimiter:
    """Grants every request: the gate alone decides who goes next."""

    def __init__(self) -> None:
        self.grants = 0

    async def grant(self, sender_number: str, wanted: int) -> Grants:
        self.grants += wanted
        return Grants([Grant(True)] * wanted, 0.0)

    def corrects(self, sender_number: str) -> bool:
        return False


async def _always(campaign_id: str) -> bool:
    return True


async def _send_all(
    gate: FairGate, waiters: dict[str, tuple[Priority, int]], order: list[str]
) -> None:
    async def one(campaign_id: str, priority: Priority) -> None:
        async with gate.turn("whatsapp:+1", campaign_id, priority) as turn:
            assert turn.granted
            order.append(campaign_id)

    await asyncio.gather(
        *(one(c, priority) for c, (priority, n) in waiters.items() for _ in range(n))
    )


async def test_grants_follow_priority_weights() -> None:
    gate = FairGate(GrantingLimiter(), _always, max_concurrent=1)  # type: ignore[arg-type]
    order: list[str] = []
    await _send_all(
        gate, {"high": ("high", 60), "normal": ("normal", 60), "low": ("low", 60)}, order
    )
    first = Counter(order[:70])  # while all three wait: 4 : 2 : 1
    assert first == {"high": 40, "normal": 20, "low": 10}
    assert Counter(order) == {"high": 60, "normal": 60, "low": 60}  # nobody starves


async def test_equal_weights_alternate() -> None:
    gate = FairGate(GrantingLimiter(), _always, max_concurrent=1)  # type: ignore[arg-type]
    order: list[str] = []
    await _send_all(gate, {"a": ("normal", 50), "b": ("normal", 50)}, order)
    assert all(abs(Counter(order[:n])["a"] - n / 2) <= 1 for n in range(2, 100, 2))


async def test_a_late_campaign_gets_its_share_not_a_burst() -> None:
    gate = FairGate(GrantingLimiter(), _always, max_concurrent=1)  # type: ignore[arg-type]
    order: list[str] = []
    halfway = asyncio.Event()

    async def early_one() -> None:
        async with gate.turn("whatsapp:+1", "early", "normal"):
            order.append("early")
            if len(order) == 50:
                halfway.set()

    early = asyncio.gather(*(early_one() for _ in range(100)))
    await halfway.wait()
    await _send_all(gate, {"late": ("normal", 20)}, order)
    await early
    late_start = order.index("late")
    window = Counter(order[late_start : late_start + 40])
    assert window == {"late": 20, "early": 20}


async def test_a_paused_campaign_spends_no_grants() -> None:
    limiter = GrantingLimiter()
    paused = {"held"}

    async def sendable(campaign_id: str) -> bool:
        return campaign_id not in paused

    gate = FairGate(limiter, sendable, max_concurrent=1)  # type: ignore[arg-type]
    results: list[tuple[str, bool]] = []

    async def one(campaign_id: str) -> None:
        async with gate.turn("whatsapp:+1", campaign_id, "high") as turn:
            results.append((campaign_id, turn.granted))

    await asyncio.gather(*(one("held") for _ in range(30)), *(one("open") for _ in range(5)))
    assert Counter(results) == {("held", False): 30, ("open", True): 5}
    assert limiter.grants == 5
    assert gate.waiting() == 0


async def test_a_retry_goes_first_in_its_campaigns_lane() -> None:
    gate = FairGate(GrantingLimiter(), _always, max_concurrent=1)  # type: ignore[arg-type]
    order: list[str] = []

    async def one(name: str, retry: bool) -> None:
        async with gate.turn("whatsapp:+1", "c", "normal", retry=retry):
            order.append(name)

    await asyncio.gather(*(one(f"new-{i}", False) for i in range(5)), one("retry", True))
    assert order.index("retry") <= 1  # the first grant may already be on its way


class CorrectedLimiter(GrantingLimiter):
    """Grants every request, each with its own log entry, and keeps the corrections."""

    def __init__(self) -> None:
        super().__init__()
        self.corrections: list[tuple[str, float]] = []

    async def grant(self, sender_number: str, wanted: int) -> Grants:
        first = self.grants
        self.grants += wanted
        due = asyncio.get_running_loop().time()  # each send is due now
        return Grants([Grant(True, member=f"m{first + i}", due=due) for i in range(wanted)], 0.0)

    def corrects(self, sender_number: str) -> bool:
        return True

    async def correct(self, sender_number: str, late_ms: list[tuple[str, float]]) -> list[bool]:
        self.corrections += late_ms
        return [True] * len(late_ms)


async def test_a_send_that_goes_late_moves_its_grant_and_one_on_time_does_not() -> None:
    limiter = CorrectedLimiter()
    gate = FairGate(limiter, _always, max_concurrent=1)  # type: ignore[arg-type]
    async with gate.turn("whatsapp:+1", "c", "normal") as late:
        # A busy event loop (the point here): the request goes 30 ms after its grant.
        time.sleep(0.03)  # noqa: ASYNC251
        gate.sending("whatsapp:+1", late)
    on_time = Turn(True, member="on-time", due=asyncio.get_running_loop().time() + 60)
    gate.sending("whatsapp:+1", on_time)

    async def corrected() -> list[tuple[str, float]]:
        return limiter.corrections

    [(member, late_ms)] = await eventually(corrected, timeout_s=5, what="the correction sent")
    assert member == late.member == "m0"
    assert 30 <= late_ms < 1_000


async def test_a_turn_granted_ahead_yields_at_its_grant_s_due_time_not_before() -> None:
    class AheadLimiter(GrantingLimiter):
        async def grant(self, sender_number: str, wanted: int) -> Grants:
            due = asyncio.get_running_loop().time() + 0.2
            return Grants([Grant(True, due=due)] * wanted, 0.0)

    gate = FairGate(AheadLimiter(), _always, max_concurrent=1)  # type: ignore[arg-type]
    async with gate.turn("whatsapp:+1", "c", "normal") as turn:
        assert turn.granted
        assert asyncio.get_running_loop().time() >= turn.due
