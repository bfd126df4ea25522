"""The admin API's experiments: start one, show its statistics, stop it (with the promotion
gate: queued to the worker, since the gate scores both versions on the frozen test split)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from modelmint import experiments
from modelmint.experiments import policy
from modelmint.serve.access import require
from modelmint.serve.errors import ADMIN_ERRORS
from modelmint.serve.pool import ModelPool
from modelmint.store import Store


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    challenger: str = Field(
        min_length=1, max_length=120, description="The challenger, NAME:VERSION of this scenario."
    )
    mode: Literal["shadow", "split", "bandit"]
    traffic: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percent: the challenger's share of calls (split, 1-99, default 10) or of "
        "calls it scores in the shadow (1-100, default 100). A bandit sets its own.",
    )
    metric: str | None = Field(
        default=None, min_length=1, max_length=100, description="The outcome event judged on."
    )
    value: bool = Field(
        default=False, description="Judge on the outcome's value per call, not its rate."
    )


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    promote: bool = Field(
        default=False,
        description="Run the promotion gate and promote the challenger if it passes (a job: "
        "202 with its id); false keeps production and stops at once.",
    )
    margin: float | None = Field(
        default=None,
        ge=0,
        le=0.2,
        description="Non-inferiority margin of the quality half of the gate (0 to 0.2): with it "
        "the challenger may be up to this much worse on the test split, when the business "
        "metric is the point.",
    )


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retrain_every: str | None = Field(
        default=None, max_length=10, description="Retrain this often: 1h to 365d."
    )
    retrain_on_drift: bool = False
    retrain_after_labels: int | None = Field(default=None, ge=1, le=10_000_000)
    challenger: str | None = Field(
        default=None, max_length=12, description="shadow, split:PCT (1-99) or bandit."
    )
    metric: str | None = Field(default=None, min_length=1, max_length=100)
    auto_promote: bool = False


def experiments_router(store: Store, pool: ModelPool) -> APIRouter:
    r = APIRouter(
        tags=["admin"], dependencies=[Depends(require("operations"))], responses=ADMIN_ERRORS
    )
    base = "/v1/admin/scenarios/{scenario}/experiments"

    @r.post(base, status_code=201)
    async def start_experiment(scenario: str, body: ExperimentIn) -> dict[str, Any]:
        """Start a shadow, split or bandit experiment of a challenger against production."""

        def run() -> dict[str, Any]:
            exp = experiments.start(
                store,
                scenario,
                body.challenger,
                body.mode,
                now=datetime.now(UTC),
                traffic=body.traffic,
                metric=body.metric,
                on_value=body.value,
            )
            pool.refresh_experiments()  # this process at once; the others within a refresh
            return experiments.summary(store, exp)

        return await run_in_threadpool(run)

    @r.get(base)
    async def show_experiment(scenario: str) -> dict[str, Any]:
        """The scenario's latest experiment with every statistic."""

        def run() -> dict[str, Any]:
            return experiments.summary(store, experiments.current(store, scenario))

        return await run_in_threadpool(run)

    @r.post(base + "/stop", responses={202: {"description": "The gate is queued as a job."}})
    async def stop_experiment(scenario: str, body: StopIn) -> Any:
        """Stop the running experiment: keep production (200), or run the gate (202, a job
        whose result is the decision; `GET /v1/admin/jobs/{id}`)."""

        def run() -> Any:
            exp = experiments.running(store, scenario)
            if body.promote:
                job = store.jobs.enqueue(
                    "experiment-stop", {"scenario": scenario, "margin": body.margin}
                )
                store.audit.record(
                    "experiment.stop_requested",
                    f"model:{scenario}/experiment:{exp['id']}",
                    after={"job": job["id"], "promote": True, "margin": body.margin},
                )
                return JSONResponse(
                    {"ok": True, "job": job["id"], "status": job["status"]}, status_code=202
                )
            out = experiments.finish(store, exp, {"asked": "keep"}, datetime.now(UTC))
            pool.refresh_experiments()
            return out

        return await run_in_threadpool(run)

    @r.put("/v1/admin/scenarios/{scenario}/policy")
    async def put_policy(scenario: str, body: PolicyIn) -> dict[str, Any]:
        """Set (replace) the scenario's retraining policy (the same as `modelmint policy set`)."""
        spec = policy.PolicySpec(**body.model_dump())
        return await run_in_threadpool(policy.set_policy, store, scenario, spec, datetime.now(UTC))

    @r.get("/v1/admin/scenarios/{scenario}/policy")
    async def get_policy(scenario: str) -> dict[str, Any]:
        """The scenario's retraining policy and its last run."""
        return await run_in_threadpool(policy.get_policy, store, scenario)

    return r
