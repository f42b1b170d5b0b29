"""How long a campaign will take when the send rate is shared by priority weight.

The senders give each running campaign rate × weight / (sum of the running
weights). When one finishes, the others' shares grow. So a new campaign's time
is found by playing that out: repeatedly, the campaign closest to done (least
remaining per unit of weight) finishes, and everybody's remaining shrinks by
what they got meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shared.events.models import Recipient, SendWindow
from shared.send_window import window_opens_ms


def time_to_send_ms(
    remaining: int, own_weight: int, others: Iterable[tuple[int, int]], rate_per_s: float
) -> int:
    """Milliseconds until ``remaining`` contacts are sent, beside ``others``
    (their remaining contacts and weights), at ``rate_per_s`` in all."""
    if remaining <= 0:
        return 0
    own = [float(remaining), own_weight]
    active = [[float(left), w] for left, w in others if left > 0 and w > 0] + [own]
    elapsed_s = 0.0
    while True:
        total_weight = sum(w for _, w in active)
        first = min(active, key=lambda entry: entry[0] / entry[1])
        # Until it finishes, each campaign gets rate × its weight / total_weight.
        per_weight = first[0] / first[1]
        elapsed_s += per_weight * total_weight / rate_per_s
        if first is own:
            return round(elapsed_s * 1000)
        for entry in active:
            entry[0] -= per_weight * entry[1]
        active.remove(first)


def longest_window_wait_ms(window: SendWindow, recipients: Sequence[Recipient], now_ms: int) -> int:
    """How long the last of these recipients waits for their send window to open.

    Their messages go out at the shared rate once it opens; an estimate from a sample
    of the audience, so that a million contacts are not read to answer a start.
    """
    waits = (window_opens_ms(window, r.phone, r.vars, now_ms) - now_ms for r in recipients)
    return max(waits, default=0)
