"""The HTTP API: predict (metered), feedback, outcomes, usage, health, and a small admin API.

``create_app(settings)`` builds everything; the server process never imports training code -
a retrain requested over HTTP becomes a job row that ``modelmint worker`` picks up."""

from __future__ import annotations

import gc
import hmac
import logging
import os
import threading
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from modelmint import __version__, billing, feedback, registry
from modelmint.billing import invoices
from modelmint.billing.metering import GroupCommit
from modelmint.data.redact import redact
from modelmint.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from modelmint.modeling.encoders import use_runtime
from modelmint.serve import errors as error_handlers
from modelmint.serve.access import require
from modelmint.serve.admin import admin_router
from modelmint.serve.audit import audit_router
from modelmint.serve.errors import ADMIN_ERRORS, error_responses
from modelmint.serve.experiments import experiments_router
from modelmint.serve.explain import ExplainQueue
from modelmint.serve.gateway import Gateway
from modelmint.serve.insights import insights_router
from modelmint.serve.metrics import Metrics
from modelmint.serve.middleware import RequestIdAndBodyLimit
from modelmint.serve.monitoring import monitoring_router
from modelmint.serve.people import people_router
from modelmint.serve.pool import ModelPool
from modelmint.serve.schemas import (
    Accepted,
    FeedbackRequest,
    OutcomeRequest,
    PredictRequest,
    PredictResponse,
    PromoteRequest,
    RetrainRequest,
    RollbackRequest,
)
from modelmint.serve.security import AuthFailures, check_admin_token, is_loopback
from modelmint.serve.ui import STATIC as UI_STATIC
from modelmint.serve.ui import ui_router
from modelmint.settings import Settings
from modelmint.store import Store, store_for

logger = logging.getLogger("modelmint.serve")


async def _caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> billing.Caller:
    return await run_in_threadpool(billing.authenticate, request.app.state.store, authorization)


async def _cached_caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> billing.Caller:
    """Predict's caller: the gateway's first step (from the process's key cache when fresh;
    safe for revocation: the metering transaction re-checks the key, see `billing.KeyCache`)."""
    return await request.app.state.gateway.authenticate(authorization)


Caller = Annotated[billing.Caller, Depends(_caller)]
CachedCaller = Annotated[billing.Caller, Depends(_cached_caller)]


def create_app(
    settings: Settings, store: Store | None = None, gateway_class: type[Gateway] = Gateway
) -> FastAPI:
    """The app. `gateway_class` runs the predict path (a subclass may override its steps)."""
    check_admin_token(settings)  # before anything opens: a weak token never serves
    store = store or store_for(settings)
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
    meter = GroupCommit(store)
    explainer = ExplainQueue(settings.explain_max_queue, settings.explain_concurrency)

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
            explainer.close()
            meter.close()

    app = FastAPIOffline(  # /docs and /redoc with their assets from the package, not a CDN
        static_url="/static/docs",
        title="ModelMint API",
        version=__version__,
        description="Metered prediction API. Authenticate with `Authorization: Bearer <key>`.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.pool = pool
    app.state.explainer = explainer
    app.state.auth_failures = AuthFailures(settings.auth_failures_per_minute)
    app.state.metrics = metrics
    app.state.keys = billing.KeyCache(store, ttl=settings.key_cache_seconds)
    gateway = gateway_class(
        store, settings, pool, limits, meter, explainer, metrics, app.state.keys
    )
    app.state.gateway = gateway
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
    async def prometheus_metrics(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        client = request.client.host if request.client else None
        if not is_loopback(client):
            token = settings.metrics_token
            if token is None:
                raise Forbidden(
                    "/metrics answers only loopback clients; set MODELMINT_METRICS_TOKEN and "
                    "send 'Authorization: Bearer <token>' to scrape it from elsewhere"
                )
            expected = f"Bearer {token.get_secret_value()}".encode()
            if not authorization or not hmac.compare_digest(authorization.encode(), expected):
                raise Unauthorized(
                    "metrics token missing or wrong; send 'Authorization: Bearer <metrics token>'"
                )
        for name, depth in pool.queued().items():
            metrics.queue_depth.labels(name).set(depth)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.post(
        "/v1/scenarios/{scenario}/predict",
        response_model=PredictResponse,
        response_model_exclude_unset=True,
        tags=["predict"],
        responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 504),
    )
    async def predict(
        scenario: str, body: PredictRequest, who: CachedCaller, request: Request
    ) -> JSONResponse:
        return await gateway.predict(scenario, body, who, request)

    @app.post(
        "/v1/feedback",
        response_model=Accepted,
        status_code=201,
        tags=["feedback"],
        responses=error_responses(400, 401, 403, 404, 413, 415, 422, 429),
    )
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

    @app.post(
        "/v1/outcomes",
        response_model=Accepted,
        status_code=201,
        tags=["feedback"],
        responses=error_responses(400, 401, 403, 404, 413, 415, 422, 429),
    )
    async def post_outcome(body: OutcomeRequest, who: Caller) -> dict:
        def run() -> dict:
            pred = feedback.find_prediction(store, body.prediction_id, who.tenant_id)
            who.allow(pred["scenario"])
            return feedback.record_outcome(
                store, who.tenant_id, body.prediction_id, body.event, body.value, redact=redact
            )

        rec = await run_in_threadpool(run)
        return {"ok": True, "id": rec["id"]}

    @app.get("/v1/usage", tags=["billing"], responses=error_responses(400, 401, 403, 429))
    async def get_usage(who: Caller, period: str | None = None) -> dict[str, Any]:
        rows = await run_in_threadpool(
            lambda: billing.usage_summary(store, period=period, tenant=who.tenant)
        )
        return rows[0]

    @app.get("/v1/invoices", tags=["billing"], responses=error_responses(400, 401, 403, 429))
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

    @app.get(
        "/v1/invoices/{number}", tags=["billing"], responses=error_responses(401, 403, 404, 429)
    )
    async def get_invoice(number: str, who: Caller) -> dict[str, Any]:
        """One of the caller's invoices; another tenant's number is 404, like an unknown one."""

        def run() -> dict[str, Any]:
            missing = NotFound(f"invoice '{number[:40]}' does not exist; see GET /v1/invoices")
            try:  # another tenant's number and an unknown one get the same answer
                inv = store.invoices.get(number[:40])
            except NotFound:
                raise missing from None
            if inv["tenant_id"] != who.tenant_id:
                raise missing
            return invoices.public(inv, who.tenant)

        return await run_in_threadpool(run)

    # admin ---------------------------------------------------------------------------------
    @app.post(
        "/v1/admin/retrain",
        status_code=202,
        tags=["admin"],
        dependencies=[Depends(require("operations"))],
        responses=ADMIN_ERRORS,
    )
    async def admin_retrain(body: RetrainRequest) -> dict[str, Any]:
        # what cannot run is refused here with its reason (unknown scenario, a task retraining
        # does not cover, no new feedback), not queued to fail later in the worker
        job = await run_in_threadpool(
            registry.queue_retrain, store, body.scenario, body.min_improvement
        )
        return {"ok": True, "job": job["id"], "status": job["status"]}

    @app.post(
        "/v1/admin/scenarios/{scenario}/promote",
        tags=["admin"],
        dependencies=[Depends(require("operations"))],
        responses=ADMIN_ERRORS,
    )
    async def admin_promote(scenario: str, body: PromoteRequest) -> dict[str, Any]:
        """Load and warm the version in this process, then point production at it (audited,
        atomic). Requests in flight finish on the old version; other processes switch within
        alias_refresh_seconds, each after warming it."""
        ref = f"{scenario}:{body.version}"

        def run() -> dict[str, Any]:
            registry.get(store, ref)  # 404 for an unknown scenario or version
            if store.models.resolve_alias(scenario, "production") == body.version:
                raise Conflict(
                    f"{ref} is already in production; promote another version, or roll back"
                )
            pool.prepare(scenario, body.version)  # a version that cannot load never goes live
            before = registry.promote(store, ref, reason=body.reason or "admin API")
            pool.switch(scenario, body.version)
            return {"ok": True, "scenario": scenario, "production": body.version, "was": before}

        return await run_in_threadpool(run)

    @app.post(
        "/v1/admin/scenarios/{scenario}/rollback",
        tags=["admin"],
        dependencies=[Depends(require("operations"))],
        responses=ADMIN_ERRORS,
    )
    async def admin_rollback(scenario: str, body: RollbackRequest) -> dict[str, Any]:
        """Point production back at the version before the latest promotion."""

        def run() -> dict[str, Any]:
            frm, to = registry.rollback(store, scenario, reason=body.reason or "admin API")
            pool.switch(scenario, to)  # the old one keeps serving here until this one is warm
            return {"ok": True, "scenario": scenario, "production": to, "was": frm}

        return await run_in_threadpool(run)

    app.include_router(admin_router(store, settings))
    app.include_router(monitoring_router(store, settings))
    app.include_router(insights_router(store, settings))
    app.include_router(audit_router(store))
    app.include_router(people_router(store))
    app.include_router(ui_router(store, settings))
    app.mount("/ui/static", StaticFiles(directory=UI_STATIC), name="ui-static")
    app.include_router(experiments_router(store, pool))

    @app.get(
        "/v1/admin/jobs/{job_id}",
        tags=["admin"],
        dependencies=[Depends(require("operations"))],
        responses=ADMIN_ERRORS,
    )
    async def admin_job(job_id: str) -> dict[str, Any]:
        return await run_in_threadpool(store.jobs.get, job_id)

    # Outermost: ids on every response, and oversize bodies refused before parsing.
    app.add_middleware(
        RequestIdAndBodyLimit,
        max_body_bytes=settings.max_body_bytes,
        auth_failures=app.state.auth_failures,
        on_response=lambda route, status, seconds: (
            metrics.requests.labels(route, str(status)).inc(),
            metrics.latency.labels(route).observe(seconds),
        ),
    )
    return app
