"""Which model serves a scenario, how it is batched, and how it is swapped without a failure.

* **Current version**: each scenario's serving version is held in memory. A watcher thread reads
  the production aliases every ``alias_refresh_seconds``; when one moved (a promotion or
  rollback by any process, CLI or admin API), it loads and warms the new version *first* and
  then switches, in one assignment. Requests that already hold the old version finish on it;
  new requests get the new one. A version that fails to load never takes traffic: the old one
  keeps serving and the failure shows in /readyz.
* **Sharing**: text heads on a frozen encoder share the process-wide encoder
  (``modeling.get_encoder``) *and* its micro-batcher: requests for any number of scenarios on
  the same encoder go through one forward pass, then each applies its own small head. So 100
  scenarios cost about one model.
* **Everything else** (LightGBM, CRF, CNN, fine-tuned or exported transformers) gets a
  micro-batcher of its own and counts against an LRU bound on memory (``model_cache_mb``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelmint import registry
from modelmint.errors import ModelMintError, NotFound, ServiceUnavailable
from modelmint.modeling import Model
from modelmint.modeling.text import TextHeadModel
from modelmint.monitor import Reference
from modelmint.serve.batcher import MicroBatcher, by_length
from modelmint.serve.metrics import Metrics
from modelmint.settings import Settings
from modelmint.store import Store
from modelmint.types import Prediction

logger = logging.getLogger(__name__)

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
RETRY_LOAD_SECONDS = 10.0  # a version that failed to load is tried again after this
GROUP = 16  # inputs per forward pass inside a batch, after sorting by length
TEXT_TASKS = ("text-classification", "multi-label", "text-regression", "faq")


@dataclass(frozen=True)
class Answered:
    """What the model answered for a list of inputs: predictions, per-input truncation flags,
    and what monitoring keeps per input (None where the version has no reference profile)."""

    predictions: list[Prediction]
    truncated: list[bool]
    drift: list[bytes | None]
    compute_s: float = 0.0
    """Compute time of these inputs: their share of each batch they ran in, plus the head."""


@dataclass(frozen=True)
class Serving:
    scenario: str
    version: int
    model: Model
    batcher: MicroBatcher
    reference: Reference | None = None

    @property
    def ref(self) -> str:
        return f"{self.scenario}:{self.version}"

    @property
    def shared(self) -> bool:
        return isinstance(self.model, TextHeadModel)

    async def predict(self, inputs: list[Any], request_id: str) -> Answered:
        """Predictions, truncation flags and drift payloads, through the micro-batcher."""
        rows, compute_s = await self.batcher.submit_timed(inputs, request_id)
        began = time.perf_counter()
        outs = [r[0] for r in rows]
        truncated = [r[1] for r in rows]
        drift: list[bytes | None] = [None] * len(inputs)
        ref = self.reference
        if self.shared:
            head: TextHeadModel = self.model  # type: ignore[assignment]
            embeddings = np.stack(outs)
            outputs: Any = head.from_embeddings(embeddings)
            if ref is not None and ref.payload == "embedding":
                drift = list(ref.encode_embeddings(embeddings))
        elif outs and isinstance(outs[0], np.ndarray | np.floating | float):
            outputs = np.asarray(outs)
        else:
            outputs = outs
        if ref is not None and ref.payload == "tabular":
            drift = list(ref.encode_rows(inputs))
        predictions = self.model.to_predictions(outputs, inputs)
        compute_s += time.perf_counter() - began
        return Answered(predictions, truncated, drift, compute_s)


WARM_UP_FILE = "warm_up.json"


def record_warm_up(cache_dir: Path, seconds: float, scenarios: int) -> None:
    """How long this start's warm-up took: `modelmint serve` quotes it as the estimate for the
    next start."""
    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (cache_dir / WARM_UP_FILE).write_text(
            json.dumps({"seconds": round(seconds, 1), "scenarios": scenarios})
        )


def last_warm_up(cache_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((cache_dir / WARM_UP_FILE).read_text())
    except (OSError, ValueError):
        return None


def _model_bytes(model: Model) -> int:
    """What a loaded version costs on its own: a shared-encoder head only its weights; other
    kinds roughly their files."""
    if isinstance(model, TextHeadModel):
        return int(model.weight.nbytes + model.bias.nbytes)
    return sum(f.stat().st_size for f in model.path.rglob("*") if f.is_file())


class ModelPool:
    def __init__(self, store: Store, settings: Settings, metrics: Metrics | None = None) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.max_bytes = settings.model_cache_mb * 1024 * 1024
        self._loaded: OrderedDict[tuple[str, int], tuple[Model, int]] = OrderedDict()
        self._current: dict[str, Serving] = {}
        self._batchers: dict[str, MicroBatcher] = {}
        self._lock = threading.Lock()
        self._load_locks: dict[tuple[str, int], threading.Lock] = {}
        self._switch_lock = threading.Lock()
        self._experiments: dict[str, dict[str, Any]] = {}  # running, by scenario
        self._versions: dict[tuple[str, int], Serving] = {}  # challengers, ready to answer
        self.load_seconds: dict[str, float] = {}
        self.failures: dict[str, str] = {}
        self._failed_at: dict[str, float] = {}
        # every batch of every batcher runs here: one at a time by default, since one batch
        # already uses all the intra-op threads (see docs/serving.md)
        self.executor = ThreadPoolExecutor(settings.batch_concurrency, thread_name_prefix="batch")

    # --- which version serves -----------------------------------------------------------
    def current(self, scenario: str) -> Serving | None:
        """The serving version, if this process has it loaded (no I/O); marks it recently
        used for the LRU."""
        serving = self._current.get(scenario)
        if serving is not None and not serving.shared:
            with self._lock:
                key = (scenario, serving.version)
                if key in self._loaded:
                    self._loaded.move_to_end(key)
        return serving

    def production(self, scenario: str) -> Serving:
        serving = self._current.get(scenario)
        if serving is not None:
            return serving
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
        return self.switch(scenario, version)

    def switch(self, scenario: str, version: int) -> Serving:
        """Load and warm `scenario:version`, then make it the serving version (atomically)."""
        with self._switch_lock:
            current = self._current.get(scenario)
            if current is not None and current.version == version:
                return current
        serving = self.prepare(scenario, version)
        with self._switch_lock:
            old = self._current.get(scenario)
            self._current[scenario] = serving
        if old is not None and old.version != version:
            logger.info("%s now serves version %d (was %d)", scenario, version, old.version)
        return serving

    def prepare(self, scenario: str, version: int) -> Serving:
        model = self.get(scenario, version)
        return Serving(
            scenario,
            version,
            model,
            self._batcher_for(scenario, version, model),
            Reference.load(model.path),
        )

    # --- experiments ----------------------------------------------------------------------
    def experiment(self, scenario: str) -> dict[str, Any] | None:
        """The scenario's running experiment as this process last read it (no I/O)."""
        return self._experiments.get(scenario)

    def refresh_experiments(self) -> None:
        """Read the running experiments (and bandit shares); warm each challenger first."""
        try:
            running = {e["scenario"]: e for e in self.store.experiments.running()}
        except Exception as exc:  # database down: keep what is known
            logger.warning("cannot read experiments: %s", exc)
            return
        for scenario, exp in list(running.items()):
            try:
                self.version(scenario, exp["challenger_version"])
            except ModelMintError as exc:  # production keeps answering alone
                logger.error("challenger of %s cannot serve (%s)", scenario, exc.message)
                running.pop(scenario)
        self._experiments = running

    def version(self, scenario: str, version: int) -> Serving:
        """A version other than production, loaded and warmed once (experiments)."""
        key = (scenario, version)
        serving = self._versions.get(key)
        if serving is None or serving.model is not self._loaded.get(key, (None,))[0]:
            serving = self.prepare(scenario, version)
            self._versions[key] = serving
        return serving

    def refresh(self) -> None:
        """Follow the production aliases: warm each moved version, then switch to it."""
        self.refresh_experiments()
        try:
            aliases = [a for a in self.store.models.aliases() if a["alias"] == "production"]
        except Exception as exc:  # database down: keep serving what is loaded
            logger.warning("cannot read production aliases: %s", exc)
            return
        for a in aliases:
            current = self._current.get(a["name"])
            if current is None or current.version == a["version"]:
                continue  # not served by this process yet: the first request loads it
            try:
                self.switch(a["name"], a["version"])
            except ModelMintError as exc:
                logger.error(
                    "%s:%s is production but cannot serve (%s); %s keeps serving",
                    a["name"],
                    a["version"],
                    exc.message,
                    current.ref,
                )

    def watch(self, stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            while not stop.wait(self.settings.alias_refresh_seconds):
                self.refresh()

        thread = threading.Thread(target=loop, daemon=True, name="alias-watch")
        thread.start()
        return thread

    # --- loading --------------------------------------------------------------------------
    def get(self, scenario: str, version: int) -> Model:
        key = (scenario, version)
        with self._lock:
            hit = self._loaded.get(key)
            if hit is not None:
                self._loaded.move_to_end(key)
                return hit[0]
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:  # one loader per version; others wait for it
            with self._lock:
                hit = self._loaded.get(key)
            if hit is not None:
                return hit[0]
            ref = f"{scenario}:{version}"
            failed_at = self._failed_at.get(ref)
            if failed_at is not None and time.monotonic() - failed_at < RETRY_LOAD_SECONDS:
                raise ServiceUnavailable(  # no re-read of a broken model on every request
                    f"model {ref} cannot be loaded ({self.failures[ref]}); the operator must "
                    "restore or roll it back"
                )
            started = time.perf_counter()
            try:
                _, model = registry.load(self.store, ref)
                self._warm(model)
            except ModelMintError as exc:
                self.failures[ref] = exc.message
                self._failed_at[ref] = time.monotonic()
                logger.error("cannot load %s: %s", ref, exc.message)
                raise ServiceUnavailable(
                    f"model {ref} cannot be loaded ({exc.message}); the operator must restore "
                    "or roll it back"
                ) from exc
            self.failures.pop(ref, None)
            self._failed_at.pop(ref, None)
            took = time.perf_counter() - started
            self.load_seconds[ref] = round(took, 3)
            if self.metrics:
                self.metrics.load_seconds.labels(scenario, str(version)).set(took)
                self.metrics.loaded.labels(scenario, str(version)).set(1)
            with self._lock:
                self._loaded[key] = (model, _model_bytes(model))
                self._evict(keep=key)
            return model

    def _evict(self, keep: tuple[str, int]) -> None:
        """Drop least recently used versions while over the count or memory bound (the one
        just loaded stays). An evicted serving version stops being current: requests in flight
        finish on the object they hold, and the next request loads it again."""
        total = sum(b for _, b in self._loaded.values())
        for key in list(self._loaded):
            if total <= self.max_bytes and len(self._loaded) <= self.settings.model_cache_size:
                break
            if key == keep:
                continue
            _, nbytes = self._loaded.pop(key)
            total -= nbytes
            self._batchers.pop(f"model:{key[0]}:{key[1]}", None)
            with self._switch_lock:
                current = self._current.get(key[0])
                if current is not None and current.version == key[1]:
                    del self._current[key[0]]
            if self.metrics:
                self.metrics.loaded.labels(key[0], str(key[1])).set(0)
            logger.info("unloaded %s:%s (LRU, over the memory or count bound)", *key)

    def _warm(self, model: Model) -> None:
        """One prediction before the version takes traffic (allocates the runtime's buffers)."""
        if model.task in TEXT_TASKS:
            model.predict(["warm-up"])

    # --- batching -------------------------------------------------------------------------
    def _batcher_for(self, scenario: str, version: int, model: Model) -> MicroBatcher:
        if isinstance(model, TextHeadModel):
            key = f"encoder:{model.encoder.name}:{model.max_tokens}"
            runner = _encoder_runner(model)
        else:
            key = f"model:{scenario}:{version}"
            runner = _model_runner(model)
        with self._lock:
            batcher = self._batchers.get(key)
            if batcher is None:
                s = self.settings
                batcher = MicroBatcher(
                    key,
                    runner,
                    max_batch=s.max_batch_size,
                    max_wait_ms=s.max_batch_wait_ms,
                    max_queue=s.max_queue,
                    executor=self.executor,
                    observe=self.metrics.observe_batch if self.metrics else None,
                )
                self._batchers[key] = batcher
            return batcher

    def queued(self) -> dict[str, int]:
        with self._lock:
            return {k: b.queued for k, b in self._batchers.items()}

    # --- what is served -------------------------------------------------------------------
    def scenarios(self) -> list[str]:
        return sorted(
            {a["name"] for a in self.store.models.aliases() if a["alias"] == "production"}
        )

    def warm_up(self) -> dict[str, str]:
        """Load and warm the production models now, so no first request pays for a load: every
        head on a shared encoder, and the others while they fit in the memory bound (the rest
        load on their first request)."""
        state = {}
        scenarios = self.scenarios()
        began = time.perf_counter()
        for k, scenario in enumerate(scenarios, 1):
            if self._bytes() >= self.max_bytes:
                state[scenario] = "loads on first request (memory bound reached)"
                continue
            t0 = time.perf_counter()
            try:
                state[scenario] = self.production(scenario).ref
            except ModelMintError as exc:
                state[scenario] = f"not ready: {exc.message}"
            logger.info(  # progress while a server starts: one line per model
                "warm-up %d/%d: %s in %.1f s",
                k,
                len(scenarios),
                state[scenario],
                time.perf_counter() - t0,
            )
        record_warm_up(self.settings.cache_dir, time.perf_counter() - began, len(scenarios))
        self.refresh_experiments()
        return state

    def _bytes(self) -> int:
        with self._lock:
            return sum(b for _, b in self._loaded.values())

    def readiness(self) -> dict[str, dict[str, Any]]:
        """Per production scenario: serving (which version) or not ready (why)."""
        out: dict[str, dict[str, Any]] = {}
        for a in self.store.models.aliases():
            if a["alias"] != "production":
                continue
            ref = f"{a['name']}:{a['version']}"
            current = self._current.get(a["name"])
            entry: dict[str, Any] = {"ready": ref not in self.failures}
            if current is not None:
                entry["model"] = current.ref
            else:
                entry["loaded"] = False  # loads on its first request
            if ref in self.failures:
                entry["error"] = self.failures[ref]
                entry["production"] = ref
            out[a["name"]] = entry
        return out

    def loaded(self) -> list[str]:
        with self._lock:
            return [f"{s}:{v}" for s, v in self._loaded]

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _encoder_runner(model: TextHeadModel):
    """Texts -> (embedding, truncated) through the shared encoder, grouped by length."""
    encoder, max_tokens = model.encoder, model.max_tokens

    def run(texts: list[str]) -> list[tuple[np.ndarray, bool]]:
        counts = encoder.token_counts(texts)
        rows = by_length(texts, counts, lambda g: encoder.embed(g, max_tokens), GROUP)
        return [(r, c > max_tokens) for r, c in zip(rows, counts, strict=True)]

    return run


def _model_runner(model: Model):
    """Inputs -> (raw output row, truncated) for a model of its own."""

    def run(items: list[Any]) -> list[tuple[Any, bool]]:
        counts = model.token_counts(items) if model.task in TEXT_TASKS else None
        lengths = counts or [0] * len(items)
        rows = by_length(items, lengths, lambda g: list(model.outputs(g)), GROUP)
        cut = [c > model.max_tokens for c in counts] if counts else [False] * len(items)
        return list(zip(rows, cut, strict=True))

    return run
