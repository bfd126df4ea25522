"""Which model serves a scenario, loaded once per process and swapped atomically.

Each request resolves ``scenario@production`` in the database (so a promotion made by any
process is seen by every replica on its next request), then takes the loaded model for that
version from an LRU. A request that already holds a model finishes on it, so a swap never
fails a request in flight."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from modelmint import registry
from modelmint.errors import ModelMintError, NotFound, ServiceUnavailable
from modelmint.modeling import Model
from modelmint.store import Store

logger = logging.getLogger(__name__)


_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")


@dataclass(frozen=True)
class Serving:
    scenario: str
    version: int
    model: Model

    @property
    def ref(self) -> str:
        return f"{self.scenario}:{self.version}"


class ModelPool:
    def __init__(self, store: Store, size: int) -> None:
        self.store = store
        self.size = size
        self._loaded: OrderedDict[tuple[str, int], Model] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks: dict[tuple[str, int], threading.Lock] = {}
        self.load_seconds: dict[str, float] = {}
        self.failures: dict[str, str] = {}

    def production(self, scenario: str) -> Serving:
        version = (
            self.store.models.resolve_alias(scenario, "production")
            if _NAME.fullmatch(scenario)
            else None
        )
        if version is None:
            if not _NAME.fullmatch(scenario) or not self.store.models.list(scenario):
                raise NotFound(
                    f"unknown scenario '{scenario[:100]}'; scenarios served here: "
                    f"{', '.join(self.scenarios()) or '(none yet)'}"
                )
            raise NotFound(
                f"scenario '{scenario}' has no production model; promote one with "
                f"`modelmint models promote {scenario}:VERSION`"
            )
        return Serving(scenario, version, self.get(scenario, version))

    def get(self, scenario: str, version: int) -> Model:
        key = (scenario, version)
        with self._lock:
            model = self._loaded.get(key)
            if model is not None:
                self._loaded.move_to_end(key)
                return model
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:  # one loader per version; others wait for it
            with self._lock:
                model = self._loaded.get(key)
            if model is not None:
                return model
            started = time.perf_counter()
            try:
                _, model = registry.load(self.store, f"{scenario}:{version}")
            except ModelMintError as exc:
                self.failures[f"{scenario}:{version}"] = exc.message
                logger.error("cannot load %s:%s: %s", scenario, version, exc.message)
                raise ServiceUnavailable(
                    f"model {scenario}:{version} cannot be loaded ({exc.message}); the operator "
                    "must restore or roll it back"
                ) from exc
            self.failures.pop(f"{scenario}:{version}", None)
            self.load_seconds[f"{scenario}:{version}"] = round(time.perf_counter() - started, 3)
            with self._lock:
                self._loaded[key] = model
                while len(self._loaded) > self.size:
                    self._loaded.popitem(last=False)
            return model

    def scenarios(self) -> list[str]:
        return sorted(
            {a["name"] for a in self.store.models.aliases() if a["alias"] == "production"}
        )

    def warm_up(self) -> dict[str, str]:
        """Load every production model now, so the first request does not pay for it."""
        state = {}
        for scenario in self.scenarios():
            try:
                s = self.production(scenario)
                if s.model.task in ("text-classification", "multi-label", "text-regression"):
                    s.model.predict(["warm-up"])  # first encoder call allocates its buffers
                state[scenario] = s.ref
            except ModelMintError as exc:
                state[scenario] = f"not ready: {exc.message}"
        return state

    def loaded(self) -> list[str]:
        with self._lock:
            return [f"{s}:{v}" for s, v in self._loaded]
