"""Prometheus metrics (prometheus_client), one registry per app.

With several server processes (``modelmint serve --workers N``) the CLI sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start; each process then writes its samples to
files there and ``/metrics`` answers with the sum over all live processes, whichever process
takes the scrape."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.35, 0.5, 1, 2, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # one registry per app (tests build many); in multiprocess mode the values also go to
        # the files in PROMETHEUS_MULTIPROC_DIR, and the scrape reads those instead
        self.registry = CollectorRegistry()
        kw: dict[str, Any] = {"registry": self.registry}
        self.requests = Counter(
            "modelmint_requests",
            "HTTP requests by route template and status code.",
            ["route", "status"],
            **kw,
        )
        self.latency = Histogram(
            "modelmint_request_seconds",
            "Request latency in seconds, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            **kw,
        )
        self.predictions = Counter(
            "modelmint_predictions",
            "Inputs predicted, by scenario, version and unit type.",
            ["scenario", "version", "unit_type"],
            **kw,
        )
        self.batch_size = Histogram(
            "modelmint_batch_size",
            "Inputs per micro-batch, by batcher (a shared encoder or one model).",
            ["batcher"],
            buckets=BATCH_BUCKETS,
            **kw,
        )
        gauge_mode: dict[str, Any] = {"multiprocess_mode": "livesum"} if self.multiprocess else {}
        self.queue_depth = Gauge(
            "modelmint_queue_depth",
            "Inputs waiting for a micro-batch, by batcher.",
            ["batcher"],
            **gauge_mode,
            **kw,
        )
        load_mode: dict[str, Any] = {"multiprocess_mode": "max"} if self.multiprocess else {}
        self.load_seconds = Gauge(
            "modelmint_model_load_seconds",
            "Seconds the last load (and warm-up) of a model version took.",
            ["scenario", "version"],
            **load_mode,
            **kw,
        )
        self.loaded = Gauge(
            "modelmint_model_loaded",
            "1 while a model version is loaded in a server process.",
            ["scenario", "version"],
            **gauge_mode,
            **kw,
        )

    def observe_batch(self, batcher: str, size: int, queued: int) -> None:
        self.batch_size.labels(batcher).observe(size)
        self.queue_depth.labels(batcher).set(queued)

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
