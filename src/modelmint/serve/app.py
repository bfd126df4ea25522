"""The HTTP API: predict (metered), feedback, outcomes, usage, health, and a small admin API.

``create_app(settings)`` builds everything; the server process never imports training code -
a retrain requested over HTTP becomes a job row that ``modelmint worker`` picks up."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import os
import re
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from modelmint import __version__, billing, feedback, registry
from modelmint.billing import alerts, invoices
from modelmint.billing.metering import GroupCommit
from modelmint.data.redact import redact
from modelmint.errors import (
    Conflict,
    InvalidInput,
    ModelMintError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TimedOut,
)
from modelmint.modeling import REGRESSION
from modelmint.modeling.encoders import use_runtime
from modelmint.serve import errors as error_handlers
from modelmint.serve.admin import admin_router, require_admin
from modelmint.serve.batcher import BatchFailed
from modelmint.serve.metrics import Metrics
from modelmint.serve.middleware import RequestIdAndBodyLimit
from modelmint.serve.pool import ModelPool
from modelmint.settings import Settings
from modelmint.store import Store, new_id, open_store
from modelmint.types import Prediction

logger = logging.getLogger("modelmint.serve")


Scalar = str | int | float | bool | None
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 except \t \n \r, and DEL


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[str | dict[str, Scalar] | list[str]] = Field(
        min_length=1,
        description="One item per prediction, each one billable unit: a text (text tasks, "
        "entities), an object of features (tabular), a list of tokens (entities), or a "
        "base64-encoded image (images).",
    )
    explain: bool = Field(
        default=False,
        description="Also return the input tokens or features behind each prediction "
        "(metered as `explain` units instead of `predict`).",
    )


class Contribution(BaseModel):
    feature: str
    weight: float = Field(description="> 0 supports the prediction, < 0 argues against it.")
    value: Scalar = None
    tag: str | None = None


class Entity(BaseModel):
    type: str
    text: str
    start: int = Field(description="First token (0-based).")
    end: int = Field(description="One past the last token.")


class PredictionOut(BaseModel):
    id: str = Field(description="Prediction id: send it back with feedback and outcomes.")
    label: str
    score: float
    scores: dict[str, float]
    value: float | None = Field(default=None, description="Regression: the predicted number.")
    labels: list[str] | None = Field(default=None, description="Multi-label: labels switched on.")
    entities: list[Entity] | None = Field(default=None, description="Entities found.")
    explanation: list[Contribution] | None = None
    truncated: bool | None = Field(
        default=None,
        description="Present and true when the input was longer than the model's max_tokens "
        "and only its beginning was used.",
    )


class PredictResponse(BaseModel):
    predictions: list[PredictionOut]
    model: str = Field(description="name:version that answered.")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prediction_id: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=200, description="The correct label.")


class OutcomeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prediction_id: str = Field(min_length=1, max_length=64)
    event: str = Field(min_length=1, max_length=100, description="e.g. converted, refunded")
    value: float | None = Field(default=None, description="Optional business value, e.g. 49.90")


class Accepted(BaseModel):
    ok: bool = True
    id: str


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, description="The version to serve.")
    reason: str = Field(default="", max_length=500, description="Kept in the audit log.")


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500, description="Kept in the audit log.")


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: str = Field(min_length=1, max_length=100)
    min_improvement: float = 0.0


def _check_strings(item: Any, i: int, max_chars: int) -> None:
    """Every string in an input: non-empty where it is the input, no NUL or lone surrogate,
    within the character limit."""
    if isinstance(item, str):
        if not item.strip():
            raise InvalidInput(f"input {i} is empty; send non-empty texts")
        strings = [item]
    elif isinstance(item, dict):
        if not item:
            raise InvalidInput(f"input {i} is an empty object; send the features")
        strings = [k for k in item] + [v for v in item.values() if isinstance(v, str)]
    else:
        if not item:
            raise InvalidInput(f"input {i} is an empty list; send the tokens")
        strings = list(item)
    total = 0
    for text in strings:
        bad = _CONTROL.search(text)
        if bad:
            raise InvalidInput(
                f"input {i} contains the control character U+{ord(bad.group()):04X}; remove "
                "control characters (tabs and line breaks are fine)"
            )
        if not _is_utf8(text):
            raise InvalidInput(f"input {i} contains an unpaired surrogate; send plain UTF-8 text")
        total += len(text)
    if total > max_chars:
        raise PayloadTooLarge(
            f"input {i} has {total} characters; the limit is {max_chars} - shorten it"
        )


def _prediction_out(
    pid: str, p: Prediction, why: list[dict[str, Any]] | None, task: str, truncated: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": pid, "label": p.label, "score": p.score, "scores": p.scores}
    if task in REGRESSION:
        out["value"] = p.value
    elif task == "multi-label":
        out["labels"] = list(p.labels)
    elif task == "token-classification":
        out["entities"] = list(p.entities)
    if why is not None:
        out["explanation"] = why
    if truncated:
        out["truncated"] = True
    return out


async def _caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> billing.Caller:
    return await run_in_threadpool(billing.authenticate, request.app.state.store, authorization)


async def _idempotency(request: Request, scenario: str) -> tuple[str, str] | None:
    """(Idempotency-Key, hash of what was asked) when the header is sent."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 200 printable ASCII characters, e.g. a UUID"
        )
    digest = hashlib.sha256(scenario.encode() + b"\n" + await request.body()).hexdigest()
    return key, digest


def _replay(stored: dict[str, Any], idem: tuple[str, str]) -> JSONResponse:
    if stored["request_hash"] != idem[1]:
        raise Conflict(
            f"Idempotency-Key '{idem[0]}' was already used for a different request; send a new "
            "key for a new request (a retry must repeat the same body to the same scenario)"
        )
    return JSONResponse(json.loads(stored["response"]), headers={"Idempotent-Replayed": "true"})


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


async def _cached_caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> billing.Caller:
    """Predict's caller: from the process's key cache when fresh. Safe for revocation: the
    metering transaction re-checks the key (see `billing.KeyCache`)."""
    keys: billing.KeyCache = request.app.state.keys
    return keys.cached(authorization) or await run_in_threadpool(keys.authenticate, authorization)


Caller = Annotated[billing.Caller, Depends(_caller)]
CachedCaller = Annotated[billing.Caller, Depends(_cached_caller)]


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    store = store or open_store(settings.sqlalchemy_url)
    threads = settings.serve_threads or max(1, os.cpu_count() or 1)
    use_runtime(settings.serve_runtime, settings.cache_dir, threads)
    metrics = Metrics()
    pool = ModelPool(store, settings, metrics)
    limits = billing.limits_for(
        store,
        backend=settings.rate_limit_backend,
        redis_url=settings.redis_url,
        on_error=settings.rate_limit_on_redis_error,
    )
    exhausted: set[tuple[int, str]] = set()  # (tenant, period) seen at its quota here
    meter = GroupCommit(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.warm = await run_in_threadpool(pool.warm_up)
        logger.info("serving %s", app.state.warm)
        if settings.gc_threshold:
            # The imports and models leave ~10^6 long-lived objects that every full collection
            # walks, and the default gen-0 threshold (700) collects every few requests. B2
            # measured, layers off, 64 clients: p99 260-300 ms -> 53-67 ms, ~1,050 -> 1,450-1,900
            # req/s with both changes.
            gc.collect()
            gc.freeze()  # what exists after warm-up is never scanned again
            gc.set_threshold(settings.gc_threshold, 50, 100)
        stop = threading.Event()
        pool.watch(stop)  # follows promotions and rollbacks made by other processes
        try:
            yield
        finally:
            stop.set()
            pool.close()
            meter.close()

    app = FastAPI(
        title="ModelMint API",
        version=__version__,
        description="Metered prediction API. Authenticate with `Authorization: Bearer <key>`.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.pool = pool
    app.state.metrics = metrics
    app.state.keys = billing.KeyCache(store, ttl=settings.key_cache_seconds)
    app.state.warm = {}
    error_handlers.install(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> dict[str, Any]:
        db = await run_in_threadpool(store.db.ping)
        if not db:
            raise ServiceUnavailable("database not reachable; check MODELMINT_DATABASE_URL")
        scenarios = await run_in_threadpool(pool.readiness)
        if scenarios and not any(v["ready"] for v in scenarios.values()):
            raise ServiceUnavailable(
                "no scenario can serve: "
                + "; ".join(f"{k}: {v.get('error', 'not loaded')}" for k, v in scenarios.items()),
            )
        return {
            "ok": True,
            "database": True,
            "scenarios": scenarios,
            "loaded": pool.loaded(),
            "warm_up": app.state.warm,
            "failures": pool.failures,
            "load_seconds": pool.load_seconds,
        }

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def prometheus_metrics() -> Response:
        for name, depth in pool.queued().items():
            metrics.queue_depth.labels(name).set(depth)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.post(
        "/v1/scenarios/{scenario}/predict",
        response_model=PredictResponse,
        response_model_exclude_unset=True,
        tags=["predict"],
    )
    async def predict(
        scenario: str, body: PredictRequest, who: CachedCaller, request: Request
    ) -> JSONResponse:
        started = time.perf_counter()
        n = len(body.inputs)
        if n > settings.max_inputs_per_request:
            raise PayloadTooLarge(
                f"{n} inputs in one request; the limit is {settings.max_inputs_per_request} - "
                "split them over several requests"
            )
        for i, item in enumerate(body.inputs):
            _check_strings(item, i, settings.max_chars_per_input)
        who.allow(scenario)
        idem = await _idempotency(request, scenario)
        if idem is not None:  # a retry is answered with the first response, before any limit
            stored = await run_in_threadpool(
                store.billing.idempotent_response, who.tenant_id, idem[0]
            )
            if stored is not None:
                return _replay(stored, idem)
        rid = request.state.request_id
        # memory and Redis run on the event loop; the database backend in a thread
        on_loop = limits.is_async
        lease = (
            await limits.acquire_async(who, rid)
            if on_loop
            else await run_in_threadpool(limits.acquire, who, rid)
        )
        try:
            return await _predict(scenario, body, who, request, idem, started)
        finally:
            if lease is not None:
                if on_loop:
                    await limits.release_async(lease)
                else:
                    await run_in_threadpool(limits.release, lease)

    async def _predict(
        scenario: str,
        body: PredictRequest,
        who: billing.Caller,
        request: Request,
        idem: tuple[str, str] | None,
        started: float,
    ) -> JSONResponse:
        n = len(body.inputs)
        period = billing.current_period()
        keys: billing.KeyCache = request.app.state.keys
        auth = request.headers.get("authorization")
        if who.live and who.unit_cap is not None and (who.tenant_id, period) in exhausted:
            # the metering write below is the exact check; this read only spares the model's
            # work for a tenant this process has already seen at its quota
            used = await run_in_threadpool(store.billing.units_used, who.tenant_id, period)
            if used + n > who.unit_cap:  # the plan may have changed since the key was cached
                keys.drop(auth)
                who = await run_in_threadpool(keys.authenticate, auth)
                if who.unit_cap is not None and used + n > who.unit_cap:
                    raise billing.quota_error(who, used, n)
            exhausted.discard((who.tenant_id, period))
        serving = pool.current(scenario) or await run_in_threadpool(pool.production, scenario)
        model = serving.model
        inputs = [model.parse_input(item, i) for i, item in enumerate(body.inputs)]
        request_id = request.state.request_id
        explanations = None
        truncated: list[bool] = [False] * n
        try:
            if body.explain:  # occlusion: its own batch of variants per input, off the batcher

                def run() -> tuple[list, list]:
                    return model.predict(inputs), [model.explain(x) for x in inputs]

                preds, explanations = await asyncio.wait_for(
                    run_in_threadpool(run), settings.request_timeout_seconds
                )
            else:
                preds, truncated = await asyncio.wait_for(
                    serving.predict(inputs, request_id), settings.request_timeout_seconds
                )
        except TimeoutError:
            raise TimedOut(
                f"the prediction took longer than {settings.request_timeout_seconds:g} s and was "
                "abandoned (nothing was metered); retry, or send fewer inputs"
            ) from None
        except BatchFailed as exc:
            raise ModelMintError(
                f"the model failed on the batch this request was in ({exc.batch_id}); nothing was "
                f"metered. The server log explains it under request id {request_id}"
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        rows = [
            {
                "id": new_id(),
                "model_version": serving.version,
                "input_text": redact(model.log_text(x))[0],  # never raw personal data
                "label": p.label[:200],
                "score": p.score,
                "latency_ms": latency_ms,
            }
            for x, p in zip(inputs, preds, strict=True)
        ]
        # built here and sent as is: the shape is PredictResponse (the OpenAPI schema), without
        # a second validation pass over every prediction
        response = {
            "predictions": [
                _prediction_out(
                    r["id"],
                    p,
                    explanations[k] if explanations else None,
                    model.task,
                    truncated[k],
                )
                for k, (r, p) in enumerate(zip(rows, preds, strict=True))
            ],
            "model": serving.ref,
        }
        for _ in range(3):
            # group commit: answered only once this request's usage is committed
            outcome = await asyncio.wrap_future(
                meter.submit(
                    dict(
                        request_id=request_id,
                        tenant_id=who.tenant_id,
                        key_id=who.key_id,
                        plan_id=who.plan_id,
                        scenario=scenario,
                        period=period,
                        quota=who.unit_cap,
                        prediction_rows=rows,
                        unit_type="explain" if body.explain else "predict",
                        live=who.live,
                        idempotency=(*idem, json.dumps(response)) if idem else None,
                        alert_levels=alerts.levels(who) if who.live else (),
                    )
                )
            )
            if outcome not in ("revoked", "expired", "suspended", "stale"):
                break
            # the key changed since it was cached: read it again (this raises the 401 or 403
            # of a revoked, expired or suspended key) and meter under its current plan
            keys.drop(auth)
            who = await run_in_threadpool(keys.authenticate, auth)
        else:
            raise ServiceUnavailable("the API key's plan kept changing; retry the request")
        if outcome == "conflict":  # the same key won a race with this request: its response
            assert idem is not None  # stands
            stored = await run_in_threadpool(
                store.billing.idempotent_response, who.tenant_id, idem[0]
            )
            assert stored is not None
            return _replay(stored, idem)
        if outcome == "over_quota":
            exhausted.add((who.tenant_id, period))
            used = await run_in_threadpool(store.billing.units_used, who.tenant_id, period)
            raise billing.quota_error(who, used, n)
        unit_type = "explain" if body.explain else "predict"
        metrics.predictions.labels(scenario, str(serving.version), unit_type).inc(n)
        logger.info(
            "predict",
            extra={
                "request_id": request_id,
                "tenant": who.tenant,
                "model": serving.ref,
                "units": n,
                "latency_ms": round(latency_ms, 2),
            },
        )
        return JSONResponse(response)

    @app.post("/v1/feedback", response_model=Accepted, status_code=201, tags=["feedback"])
    async def post_feedback(body: FeedbackRequest, who: Caller) -> dict:
        def run() -> dict:
            pred = feedback.find_prediction(store, body.prediction_id, who.tenant_id)
            who.allow(pred["scenario"])
            # the labels of the version that answered, from the registry: no model load
            model = store.models.get(pred["scenario"], pred["model_version"])
            ds = store.datasets.get_by_id(model["dataset_id"])
            return feedback.record_feedback(
                store, who.tenant_id, body.prediction_id, body.label, ds["labels"], ds["task"]
            )

        rec = await run_in_threadpool(run)
        return {"ok": True, "id": rec["id"]}

    @app.post("/v1/outcomes", response_model=Accepted, status_code=201, tags=["feedback"])
    async def post_outcome(body: OutcomeRequest, who: Caller) -> dict:
        def run() -> dict:
            pred = feedback.find_prediction(store, body.prediction_id, who.tenant_id)
            who.allow(pred["scenario"])
            return feedback.record_outcome(
                store, who.tenant_id, body.prediction_id, body.event, body.value
            )

        rec = await run_in_threadpool(run)
        return {"ok": True, "id": rec["id"]}

    @app.get("/v1/usage", tags=["billing"])
    async def get_usage(who: Caller, period: str | None = None) -> dict[str, Any]:
        rows = await run_in_threadpool(
            lambda: billing.usage_summary(store, period=period, tenant=who.tenant)
        )
        return rows[0]

    @app.get("/v1/invoices", tags=["billing"])
    async def get_invoices(who: Caller, period: str | None = None) -> dict[str, Any]:
        """The caller's own issued invoices and credit notes (newest last)."""

        def run() -> list[dict[str, Any]]:
            if period is not None:
                billing.validate_period(period)
            return [
                invoices.public(inv, who.tenant)
                for inv in store.invoices.list(who.tenant_id, period)
            ]

        return {"invoices": await run_in_threadpool(run)}

    @app.get("/v1/invoices/{number}", tags=["billing"])
    async def get_invoice(number: str, who: Caller) -> dict[str, Any]:
        """One of the caller's invoices; another tenant's number is 404, like an unknown one."""

        def run() -> dict[str, Any]:
            inv = store.invoices.get(number[:40])
            if inv["tenant_id"] != who.tenant_id:
                raise NotFound(f"invoice '{number[:40]}' does not exist; see GET /v1/invoices")
            return invoices.public(inv, who.tenant)

        return await run_in_threadpool(run)

    # admin ---------------------------------------------------------------------------------
    @app.post(
        "/v1/admin/retrain", status_code=202, tags=["admin"], dependencies=[Depends(require_admin)]
    )
    async def admin_retrain(body: RetrainRequest) -> dict[str, Any]:
        await run_in_threadpool(pool.production, body.scenario)  # 404 for unknown scenarios
        job = await run_in_threadpool(
            store.jobs.enqueue,
            "retrain",
            {"scenario": body.scenario, "min_improvement": body.min_improvement},
        )
        return {"ok": True, "job": job["id"], "status": job["status"]}

    @app.post(
        "/v1/admin/scenarios/{scenario}/promote",
        tags=["admin"],
        dependencies=[Depends(require_admin)],
    )
    async def admin_promote(scenario: str, body: PromoteRequest) -> dict[str, Any]:
        """Load and warm the version in this process, then point production at it (audited,
        atomic). Requests in flight finish on the old version; other processes switch within
        alias_refresh_seconds, each after warming it."""
        ref = f"{scenario}:{body.version}"

        def run() -> dict[str, Any]:
            registry.get(store, ref)  # 404 for an unknown scenario or version
            pool.prepare(scenario, body.version)  # a version that cannot load never goes live
            before = registry.promote(store, ref, reason=body.reason or "admin API")
            pool.switch(scenario, body.version)
            return {"ok": True, "scenario": scenario, "production": body.version, "was": before}

        return await run_in_threadpool(run)

    @app.post(
        "/v1/admin/scenarios/{scenario}/rollback",
        tags=["admin"],
        dependencies=[Depends(require_admin)],
    )
    async def admin_rollback(scenario: str, body: RollbackRequest) -> dict[str, Any]:
        """Point production back at the version before the latest promotion."""

        def run() -> dict[str, Any]:
            frm, to = registry.rollback(store, scenario, reason=body.reason or "admin API")
            pool.switch(scenario, to)  # the old one keeps serving here until this one is warm
            return {"ok": True, "scenario": scenario, "production": to, "was": frm}

        return await run_in_threadpool(run)

    app.include_router(admin_router(store, settings))

    @app.get("/v1/admin/jobs/{job_id}", tags=["admin"], dependencies=[Depends(require_admin)])
    async def admin_job(job_id: str) -> dict[str, Any]:
        return await run_in_threadpool(store.jobs.get, job_id)

    # Outermost: ids on every response, and oversize bodies refused before parsing.
    app.add_middleware(
        RequestIdAndBodyLimit,
        max_body_bytes=settings.max_body_bytes,
        on_response=lambda route, status, seconds: (
            metrics.requests.labels(route, str(status)).inc(),
            metrics.latency.labels(route).observe(seconds),
        ),
    )
    return app
