"""The coalescer behind the sender's per-batch I/O: one call for concurrent requests,
each caller its own answer, and never a caller left waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.sender.coalesce import Coalescer


async def test_requests_made_together_are_one_call_each_with_its_answer() -> None:
    calls: list[list[int]] = []

    async def double(requests: Sequence[int]) -> list[int]:
        calls.append(list(requests))
        await asyncio.sleep(0)
        return [2 * r for r in requests]

    coalescer: Coalescer[int, int] = Coalescer(double, max_batch=50)
    answers = await asyncio.gather(*(coalescer.submit(i) for i in range(120)))

    assert answers == [2 * i for i in range(120)]
    assert [len(call) for call in calls] == [50, 50, 20]


async def test_a_failed_call_fails_each_of_its_callers() -> None:
    async def broken(requests: Sequence[int]) -> list[int]:
        raise ConnectionError("redis went away")

    coalescer: Coalescer[int, int] = Coalescer(broken)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(3)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    # The next requests are served again.
    coalescer._run_batch = lambda requests: _answer(requests)  # type: ignore[method-assign]
    assert await coalescer.submit(7) == 7


async def _answer(requests: Sequence[int]) -> list[int]:
    return list(requests)


async def test_too_few_answers_fail_the_callers_instead_of_leaving_them_waiting() -> None:
    async def short(requests: Sequence[int]) -> list[int]:
        return list(requests)[:-1]

    coalescer: Coalescer[int, int] = Coalescer(short)
    with pytest.raises(RuntimeError, match="2 answers to 3 requests"):
        await asyncio.wait_for(asyncio.gather(*(coalescer.submit(i) for i in range(3))), timeout=5)


async def test_posted_requests_share_a_batch_and_a_failed_batch_of_them_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[list[int]] = []
    fail = True

    async def flaky(requests: Sequence[int]) -> list[int]:
        calls.append(list(requests))
        if fail:
            raise ConnectionError("redis went away")
        return list(requests)

    coalescer: Coalescer[int, int] = Coalescer(flaky)
    for i in range(3):
        coalescer.post(i)  # returns at once: nobody waits for these
    with pytest.raises(ConnectionError):
        await coalescer.submit(3)  # the waiting caller still gets the batch's error
    assert calls == [[0, 1, 2, 3]]
    assert [r.getMessage() for r in caplog.records] == [
        "3 posted requests lost: ConnectionError('redis went away')"
    ]

    fail = False
    coalescer.post(4)
    assert await coalescer.submit(5) == 5
    assert calls[-1] == [4, 5]
