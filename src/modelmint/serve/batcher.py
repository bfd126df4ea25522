"""Dynamic micro-batching: concurrent requests share one forward pass.

A ``MicroBatcher`` owns one runner (a shared encoder, or one model that cannot share); its
batches run one at a time on an executor shared by the server process. Requests ``submit`` their inputs and await a future. The collector takes
the first waiting request, waits at most ``max_wait`` for more, up to ``max_batch`` inputs,
and hands the batch to the runner thread; while it runs, the next batch gathers. Inside the
runner, inputs are sorted by length and cut into groups, so padding is not wasted.

Back-pressure: at most ``max_queue`` inputs wait; beyond that ``submit`` raises Overloaded (503
with Retry-After) at once, so overload never becomes unbounded memory or latency. A request
that gives up (timeout, client gone) is dropped from its batch before the batch runs. A crash
in the runner fails that batch's requests only; the log names their request ids.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from modelmint.errors import Overloaded

logger = logging.getLogger(__name__)

IDLE_SECONDS = 30.0
Runner = Callable[[list[Any]], Sequence[Any]]


@dataclass
class _Job:
    items: list[Any]
    future: asyncio.Future
    request_id: str
    queued_at: float = field(default_factory=time.perf_counter)


class BatchFailed(Exception):
    """The runner raised on a batch; carries the batch id the server log uses."""

    def __init__(self, batch_id: str, cause: BaseException) -> None:
        super().__init__(f"batch {batch_id} failed: {cause!r}")
        self.batch_id = batch_id
        self.cause = cause


class MicroBatcher:
    def __init__(
        self,
        name: str,
        runner: Runner,
        *,
        max_batch: int,
        max_wait_ms: float,
        max_queue: int,
        executor: Executor,
        observe: Callable[[str, int, int], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.name = name
        self.runner = runner
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.observe = observe  # (name, batch size, queue depth after taking it)
        self.clock = clock  # times each batch's run: its compute time, shared by inputs
        self._jobs: deque[_Job] = deque()
        self._queued = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor = executor
        self._batches = 0
        self._rate = 0.0  # inputs per second, smoothed: for Retry-After

    @property
    def queued(self) -> int:
        return self._queued

    async def submit(self, items: list[Any], request_id: str) -> list[Any]:
        """The runner's outputs for `items`, in order."""
        return (await self.submit_timed(items, request_id))[0]

    async def submit_timed(self, items: list[Any], request_id: str) -> tuple[list[Any], float]:
        """The runner's outputs for `items`, in order, and their share of the batch's compute
        time in seconds (the runner's wall time on the executor, split by inputs)."""
        n = len(items)
        if self._queued + n > self.max_queue:
            wait = self._queued / self._rate if self._rate > 0 else 1.0
            raise Overloaded(
                f"the server is at capacity ({self._queued} inputs queued for {self.name}); "
                f"retry after {math.ceil(wait)} s or add replicas",
                retry_after=math.ceil(wait),
            )
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._collect(), name=f"batcher-{self.name}")
        job = _Job(items, loop.create_future(), request_id)
        self._jobs.append(job)
        self._queued += n
        assert self._wake is not None
        self._wake.set()
        try:
            return await job.future
        finally:
            if not job.future.done():  # cancelled or timed out while waiting: drop it
                job.future.cancel()

    async def _collect(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            try:  # an idle collector ends; the next submit starts a new one
                await asyncio.wait_for(self._wake.wait(), IDLE_SECONDS)
            except TimeoutError:
                if not self._jobs:
                    return
            self._wake.clear()
            if not self._jobs:
                continue
            deadline = self._jobs[0].queued_at + self.max_wait
            while self._queued < self.max_batch:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(self._wake.wait(), left)
                except TimeoutError:
                    break
                self._wake.clear()
            batch = self._take()
            if self.observe:
                self.observe(self.name, sum(len(j.items) for j in batch), self._queued)
            if batch:
                await self._run(loop, batch)
            if self._jobs:
                self._wake.set()

    def _take(self) -> list[_Job]:
        """Whole requests, oldest first, up to max_batch inputs (a bigger request goes alone)."""
        batch: list[_Job] = []
        size = 0
        while self._jobs:
            job = self._jobs[0]
            if job.future.done():  # given up while queued
                self._jobs.popleft()
                self._queued -= len(job.items)
                continue
            if batch and size + len(job.items) > self.max_batch:
                break
            self._jobs.popleft()
            self._queued -= len(job.items)
            batch.append(job)
            size += len(job.items)
        return batch

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Job]) -> None:
        items = [x for job in batch for x in job.items]
        self._batches += 1
        batch_id = f"{self.name}#{self._batches}"
        started = self.clock()
        try:
            out = await loop.run_in_executor(self._executor, self.runner, items)
        except Exception as exc:
            logger.error(
                "batch %s failed (%d inputs); failing its requests %s",
                batch_id,
                len(items),
                ", ".join(j.request_id for j in batch),
                exc_info=exc,
            )
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(BatchFailed(batch_id, exc))
            return
        took = self.clock() - started
        if took > 0:
            rate = len(items) / took
            self._rate = rate if self._rate == 0 else 0.8 * self._rate + 0.2 * rate
        k = 0
        for job in batch:
            n = len(job.items)
            if not job.future.done():
                job.future.set_result((list(out[k : k + n]), took * n / len(items)))
            k += n


def by_length(
    texts: list[str], lengths: list[int], run: Callable[[list[str]], Any], group: int
) -> list[Any]:
    """Run `texts` in groups of similar length (sorted by `lengths`), results in input order."""
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    out: list[Any] = [None] * len(texts)
    for g in range(0, len(order), group):
        idx = order[g : g + group]
        rows = run([texts[i] for i in idx])
        for i, row in zip(idx, rows, strict=True):
            out[i] = row
    return out
