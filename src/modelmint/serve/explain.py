"""Explanations on a bounded, cancellable path of their own.

An explanation costs far more than a prediction: occlusion runs one forward pass of up to 49
variants per input. So explain never borrows the server's shared thread pool (where a flood of
them starved every other request): it has its own executor (``explain_concurrency`` threads) and
its own bound on inputs queued or running (``explain_max_queue``), weighted by inputs. A caller
that gives up (its request timed out, or the client left) sets its job's cancel flag; the worker
checks the flag before the prediction and before each input's explanation, so abandoned work
stops within one input instead of running on for minutes after its 504. Memory is bounded by
the concurrency (one occlusion batch per thread), not by the number of callers.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelmint.errors import Overloaded, PayloadTooLarge
from modelmint.modeling import Model
from modelmint.types import Prediction


class Cancelled(Exception):
    """The caller gave up; the remaining inputs were not explained."""


class ExplainQueue:
    def __init__(self, max_queue: int, concurrency: int) -> None:
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="explain")
        self._lock = threading.Lock()
        self._queued = 0  # inputs accepted and not finished (queued or running)
        self._rate = 0.0  # inputs per second, smoothed: for Retry-After
        self.started = 0  # inputs whose explanation began (a test reads it)
        self.cancelled = 0  # jobs stopped early because their caller left

    @property
    def queued(self) -> int:
        return self._queued

    def _admit(self, n: int) -> None:
        if n > self.max_queue:
            raise PayloadTooLarge(
                f"{n} inputs to explain in one request; the limit is {self.max_queue} "
                "(MODELMINT_EXPLAIN_MAX_QUEUE) - send fewer inputs with explain: true"
            )
        with self._lock:
            if self._queued + n > self.max_queue:
                wait = max(1, math.ceil(self._queued / self._rate)) if self._rate > 0 else 5
                raise Overloaded(
                    f"the server is explaining {self._queued} inputs already; retry after "
                    f"{wait} s, or ask without explain",
                    retry_after=wait,
                )
            self._queued += n

    def _release(self, n: int) -> None:
        with self._lock:
            self._queued -= n

    async def run(
        self, model: Model, inputs: list[Any], timeout: float
    ) -> tuple[list[Prediction], list[list[dict[str, Any]]], float]:
        """Predictions, explanations for `inputs` and the seconds of compute they took;
        TimeoutError after `timeout` seconds, with the work stopped."""
        n = len(inputs)
        self._admit(n)
        cancel = threading.Event()
        try:
            future = self._executor.submit(self._work, model, inputs, cancel)
        except BaseException:
            self._release(n)
            raise
        future.add_done_callback(lambda _: self._release(n))  # also when cancelled unstarted
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except BaseException:  # timed out, or the request task was cancelled (client left)
            cancel.set()
            future.cancel()  # not started yet: never runs
            raise

    def _work(
        self, model: Model, inputs: list[Any], cancel: threading.Event
    ) -> tuple[list[Prediction], list[list[dict[str, Any]]], float]:
        began = time.perf_counter()
        if cancel.is_set():
            raise Cancelled
        preds = model.predict(inputs)
        explanations = []
        for x in inputs:
            if cancel.is_set():
                self.cancelled += 1
                raise Cancelled
            self.started += 1
            explanations.append(model.explain(x))
        took = time.perf_counter() - began
        if took > 0:
            rate = len(inputs) / took
            self._rate = rate if self._rate == 0 else 0.8 * self._rate + 0.2 * rate
        return preds, explanations, took

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
