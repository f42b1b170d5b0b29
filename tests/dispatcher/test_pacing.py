"""Credits: how many batches a campaign may have emitted next."""

import pytest

from services.dispatcher.decisions import batch_credits


@pytest.mark.parametrize(
    ("emitted", "processed", "expected"),
    [
        (0, 0, 10),  # nothing out: the whole window
        (500, 0, 9),
        (5_000, 0, 0),  # ten batches in flight: none more
        (5_000, 499, 0),  # a partly done batch still counts
        (5_000, 500, 1),
        (5_000, 5_000, 10),
        (1_000, 1_200, 10),  # outcomes ahead of a regressed cursor: never more than the window
    ],
)
def test_credits_count_batches_in_flight(emitted: int, processed: int, expected: int) -> None:
    assert batch_credits(emitted, processed, batch_size=500, max_batches=10) == expected
