"""The HTTP API: predict (metered), feedback, outcomes, usage, health, and a small admin API.

``create_app(settings)`` builds everything; the server process never imports training code -
a retrain requested over HTTP becomes a job row that ``modelmint worker`` picks up."""

from __future__ import annotations

import hmac
import logging
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from modelmint import __version__, billing, feedback
from modelmint.data.redact import redact
from modelmint.errors import (
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
)
from modelmint.serve import errors as error_handlers
from modelmint.serve.middleware import RequestIdAndBodyLimit
from modelmint.serve.pool import ModelPool
from modelmint.settings import Settings
from modelmint.store import Store, new_id, open_store

logger = logging.getLogger("modelmint.serve")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[str] = Field(
        min_length=1, description="Texts to classify; each is one billable unit."
    )


class PredictionOut(BaseModel):
    id: str = Field(description="Prediction id: send it back with feedback and outcomes.")
    label: str
    score: float
    scores: dict[str, float]


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


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: str = Field(min_length=1, max_length=100)
    min_improvement: float = 0.0


async def _caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> billing.Caller:
    return await run_in_threadpool(billing.authenticate, request.app.state.store, authorization)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


Caller = Annotated[billing.Caller, Depends(_caller)]


async def _admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    token = request.app.state.settings.admin_token
    if token is None:
        raise Forbidden("the admin API is off; set MODELMINT_ADMIN_TOKEN to turn it on")
    expected = f"Bearer {token.get_secret_value()}"
    if not authorization or not hmac.compare_digest(authorization.encode(), expected.encode()):
        raise Unauthorized(
            "admin token missing or wrong; send 'Authorization: Bearer <admin token>'"
        )


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    store = store or open_store(settings.sqlalchemy_url)
    pool = ModelPool(store, settings.model_cache_size)
    limiter = billing.RateLimiter()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.warm = await run_in_threadpool(pool.warm_up)
        logger.info("serving %s", app.state.warm)
        yield

    app = FastAPI(
        title="ModelMint API",
        version=__version__,
        description="Metered prediction API. Authenticate with `Authorization: Bearer <key>`.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.pool = pool
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
        return {
            "ok": True,
            "database": True,
            "loaded": pool.loaded(),
            "warm_up": app.state.warm,
            "failures": pool.failures,
            "load_seconds": pool.load_seconds,
        }

    @app.post("/v1/scenarios/{scenario}/predict", response_model=PredictResponse, tags=["predict"])
    async def predict(scenario: str, body: PredictRequest, who: Caller, request: Request) -> dict:
        started = time.perf_counter()
        n = len(body.inputs)
        if n > settings.max_inputs_per_request:
            raise PayloadTooLarge(
                f"{n} inputs in one request; the limit is {settings.max_inputs_per_request} - "
                "split them over several requests"
            )
        for i, text in enumerate(body.inputs):
            if not text.strip():
                raise InvalidInput(f"input {i} is empty; send non-empty texts")
            if "\x00" in text or not _is_utf8(text):
                raise InvalidInput(
                    f"input {i} contains a NUL character or an unpaired surrogate; send plain "
                    "UTF-8 text"
                )
            if len(text) > settings.max_chars_per_input:
                raise PayloadTooLarge(
                    f"input {i} has {len(text)} characters; the limit is "
                    f"{settings.max_chars_per_input} - shorten it"
                )
        limiter.check(who)
        period = billing.current_period()
        if who.monthly_quota is not None:
            used = await run_in_threadpool(store.billing.units_used, who.tenant_id, period)
            if used + n > who.monthly_quota:
                raise billing.quota_error(who, used, n)
        serving = await run_in_threadpool(pool.production, scenario)
        preds = await run_in_threadpool(serving.model.predict, body.inputs)
        latency_ms = (time.perf_counter() - started) * 1000
        request_id = request.state.request_id
        rows = [
            {
                "id": new_id(),
                "model_version": serving.version,
                "input_text": redact(text)[0],  # the log never holds raw personal data
                "label": p.label,
                "score": p.score,
                "latency_ms": latency_ms,
            }
            for text, p in zip(body.inputs, preds, strict=True)
        ]
        ok = await run_in_threadpool(
            lambda: store.billing.record_request(
                request_id=request_id,
                tenant_id=who.tenant_id,
                key_id=who.key_id,
                scenario=scenario,
                period=period,
                quota=who.monthly_quota,
                prediction_rows=rows,
            )
        )
        if not ok:
            used = await run_in_threadpool(store.billing.units_used, who.tenant_id, period)
            raise billing.quota_error(who, used, n)
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
        return {
            "predictions": [
                {"id": r["id"], "label": p.label, "score": p.score, "scores": p.scores}
                for r, p in zip(rows, preds, strict=True)
            ],
            "model": serving.ref,
        }

    @app.post("/v1/feedback", response_model=Accepted, status_code=201, tags=["feedback"])
    async def post_feedback(body: FeedbackRequest, who: Caller) -> dict:
        def run() -> dict:
            pred = feedback.find_prediction(store, body.prediction_id, who.tenant_id)
            # the labels of the version that answered, from the registry: no model load
            model = store.models.get(pred["scenario"], pred["model_version"])
            labels = store.datasets.get_by_id(model["dataset_id"])["labels"]
            return feedback.record_feedback(
                store, who.tenant_id, body.prediction_id, body.label, labels
            )

        rec = await run_in_threadpool(run)
        return {"ok": True, "id": rec["id"]}

    @app.post("/v1/outcomes", response_model=Accepted, status_code=201, tags=["feedback"])
    async def post_outcome(body: OutcomeRequest, who: Caller) -> dict:
        rec = await run_in_threadpool(
            feedback.record_outcome,
            store,
            who.tenant_id,
            body.prediction_id,
            body.event,
            body.value,
        )
        return {"ok": True, "id": rec["id"]}

    @app.get("/v1/usage", tags=["billing"])
    async def get_usage(who: Caller, period: str | None = None) -> dict[str, Any]:
        rows = await run_in_threadpool(
            lambda: billing.usage_summary(store, period=period, tenant=who.tenant)
        )
        return rows[0]

    # admin ---------------------------------------------------------------------------------
    @app.post("/v1/admin/retrain", status_code=202, tags=["admin"], dependencies=[Depends(_admin)])
    async def admin_retrain(body: RetrainRequest) -> dict[str, Any]:
        await run_in_threadpool(pool.production, body.scenario)  # 404 for unknown scenarios
        job = await run_in_threadpool(
            store.jobs.enqueue,
            "retrain",
            {"scenario": body.scenario, "min_improvement": body.min_improvement},
        )
        return {"ok": True, "job": job["id"], "status": job["status"]}

    @app.get("/v1/admin/jobs/{job_id}", tags=["admin"], dependencies=[Depends(_admin)])
    async def admin_job(job_id: str) -> dict[str, Any]:
        return await run_in_threadpool(store.jobs.get, job_id)

    # Outermost: ids on every response, and oversize bodies refused before parsing.
    app.add_middleware(RequestIdAndBodyLimit, max_body_bytes=settings.max_body_bytes)
    return app
