"""Many callers' single requests, one round trip: the sender's per-batch I/O.

The handler keeps its per-message logic (each command's ledger look-up, outcome
record and publish reads as one step of one send), while hundreds of commands
of a fetched batch run at once. A ``Coalescer`` gathers what those commands ask
for while the event loop is busy with them, and runs the lot as one call: one
Redis pipeline for all ledger reads, one for all outcome records, one Kafka
flush for all outcomes. Each caller still gets its own answer, or the batch's
error, so a failure is handled where it would have been for a single request.

Nothing is acknowledged before its batch has run: a crash loses only requests
whose callers are still waiting, and those were never reported as done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")

# How long an outcome (a ledger record, a publication) waits for others to share its
# round trip: at 100 ms of Twilio latency answers come a few at a time, and each write
# or publish costs the same whether it carries one outcome or fifty.
GATHER_OUTCOMES_S = 0.003

RunBatch = Callable[[Sequence[Request]], Awaitable[Sequence[Answer]]]


class Coalescer(Generic[Request, Answer]):
    """Runs the requests submitted while a batch is forming as one ``run_batch`` call.

    A batch forms from the first request until the event loop has run everything
    already ready (``linger_s`` = 0) or for ``linger_s``, and holds at most
    ``max_batch`` requests; requests that arrive while a batch runs form the next one.
    """

    def __init__(self, run_batch: RunBatch, *, max_batch: int = 1_000, linger_s: float = 0.0):
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._pending: list[tuple[Request, asyncio.Future[Answer]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="coalesce-flush")
        return await future

    async def _flush_soon(self) -> None:
        # Yield once (or linger) so that every caller made ready by the same event
        # joins this batch; then keep flushing while requests keep coming.
        await asyncio.sleep(self._linger_s)
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            await self._run(batch)

    async def _run(self, batch: list[tuple[Request, asyncio.Future[Answer]]]) -> None:
        live = [(request, future) for request, future in batch if not future.done()]
        if not live:
            return
        try:
            answers = await self._run_batch([request for request, _ in live])
            if len(answers) != len(live):
                raise RuntimeError(f"{len(answers)} answers to {len(live)} requests")
        except Exception as error:  # each caller handles it as its own failure
            for _, future in live:
                if not future.done():
                    future.set_exception(error)
            return
        except asyncio.CancelledError:
            for _, future in live:
                if not future.done():
                    future.cancel()
            raise
        for (_, future), answer in zip(live, answers, strict=True):
            if not future.done():
                future.set_result(answer)
