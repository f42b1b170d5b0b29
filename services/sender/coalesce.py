"""Many callers' single requests, one round trip: the sender's per-batch I/O.

The handler keeps its per-message logic (each command's ledger look-up, outcome
record and publish reads as one step of one send), while hundreds of commands
of a fetched batch run at once. A ``Coalescer`` gathers what those commands ask
for while the event loop is busy with them, and runs the lot as one call: one
Redis pipeline for all ledger reads, one for all outcome records, one Kafka
flush for all outcomes. Each caller still gets its own answer, or the batch's
error, so a failure is handled where it would have been for a single request.

Nothing is acknowledged before its batch has run: a crash loses only requests
whose callers are still waiting, and those were never reported as done. A request
``post``ed instead of submitted has no caller waiting: it is for work whose loss costs
little (a limiter correction), and a failed batch of them is logged once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

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
        # A posted request has no future: nobody waits for its answer.
        self._pending: list[tuple[Request, asyncio.Future[Answer] | None]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._enqueue(request, future)
        return await future

    def post(self, request: Request) -> None:
        """Submit without waiting for the answer: the request joins the next batch, and a
        failure of that batch is logged, not raised."""
        self._enqueue(request, None)

    def _enqueue(self, request: Request, future: asyncio.Future[Answer] | None) -> None:
        self._pending.append((request, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="coalesce-flush")

    async def _flush_soon(self) -> None:
        # Yield once (or linger) so that every caller made ready by the same event
        # joins this batch; then keep flushing while requests keep coming.
        await asyncio.sleep(self._linger_s)
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            await self._run(batch)

    async def _run(self, batch: list[tuple[Request, asyncio.Future[Answer] | None]]) -> None:
        live = [(request, future) for request, future in batch if not future or not future.done()]
        if not live:
            return
        try:
            answers = await self._run_batch([request for request, _ in live])
            if len(answers) != len(live):
                raise RuntimeError(f"{len(answers)} answers to {len(live)} requests")
        except Exception as error:  # each caller handles it as its own failure
            posted = sum(future is None for _, future in live)
            if posted:
                log.warning("%d posted requests lost: %r", posted, error)
            for _, future in live:
                if future and not future.done():
                    future.set_exception(error)
            return
        except asyncio.CancelledError:
            for _, future in live:
                if future and not future.done():
                    future.cancel()
            raise
        for (_, future), answer in zip(live, answers, strict=True):
            if future and not future.done():
                future.set_result(answer)
