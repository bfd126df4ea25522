"""Group commit for metering: one writer thread per server process.

A request hands its metering (a `MeterItem`: prediction-log rows, usage, quota, idempotency
record, alert levels) to the writer and waits. The writer takes everything queued while its
previous transaction ran and commits it as ONE transaction (`BillingRepo.record_requests`, each
call decided by `billing.rules.RULES`), then wakes each waiter with its own `MeterOutcome`. An
idle server commits a lone request at once (no timer, no added wait); a busy one pays one commit
per batch instead of one per request. A response is sent only after its transaction has
committed.

Written by hand: the batching is a dozen lines around the repository's batch write, and no
library offers group commit over SQLAlchemy."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from modelmint.billing.rules import RULES
from modelmint.store import Store
from modelmint.store.repos import MeterRules, meter_item
from modelmint.types import MeterItem, MeterOutcome

logger = logging.getLogger(__name__)

_STOP = object()


class GroupCommit:
    def __init__(self, store: Store, max_batch: int = 256, rules: MeterRules = RULES) -> None:
        self.store = store
        self.max_batch = max_batch
        self.rules = rules
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.batches = 0
        self.requests = 0
        self._thread = threading.Thread(target=self._run, name="modelmint-metering", daemon=True)
        self._thread.start()

    def submit(self, item: MeterItem | Mapping[str, Any]) -> Future[MeterOutcome]:
        """Queue one call's metering; the future gives its `MeterOutcome` once committed, or
        the error. A dict of `MeterItem`'s fields is accepted for now (the server's predict path
        builds one) and converted here."""
        if not isinstance(item, MeterItem):
            item = meter_item(item)
        fut: Future[MeterOutcome] = Future()
        self._queue.put((item, fut))
        return fut

    def close(self, timeout: float = 10) -> None:
        """Commit what is queued, then stop the writer."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            stop = first is _STOP
            batch = [] if stop else [first]
            while not stop and len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                else:
                    batch.append(nxt)
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[MeterItem, Future[MeterOutcome]]]) -> None:
        try:
            outcomes = self.store.billing.record_requests([item for item, _ in batch], self.rules)
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            # one request's fault must not fail the others: each on its own
            logger.warning("metering batch of %d failed (%s); retrying one by one", len(batch), exc)
            for pair in batch:
                self._commit([pair])
            return
        self.batches += 1
        self.requests += len(batch)
        for (_, fut), outcome in zip(batch, outcomes, strict=True):
            fut.set_result(outcome)
