"""Retraining policies on the worker's schedule: fire a trigger (a retrain job, with the reason
recorded), send a candidate that passed the quality gate into the policy's experiment, and stop
an auto-promote experiment with the full gate once its verdict is in."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from modelmint import experiments, registry
from modelmint.errors import ModelMintError
from modelmint.experiments.policy import PolicySpec
from modelmint.pipeline.experimenting import stop_experiment
from modelmint.pipeline.workspace import Workspace

logger = logging.getLogger(__name__)


def due_trigger(ws: Workspace, row: dict[str, Any], now: datetime) -> str | None:
    """Which of the policy's triggers fires now, described, or None."""
    spec = PolicySpec(**row["spec"])
    since = row["last_run_at"] or row["updated_at"]
    every = spec.every
    if every is not None and now - since >= every:
        return f"every {spec.retrain_every}"
    if spec.retrain_on_drift and ws.store.policies.drift_alert_since(row["scenario"], since):
        return "input drift alert"
    n = spec.retrain_after_labels
    if n is not None:
        labels = ws.store.policies.labels_since(row["scenario"], row["last_run_at"])
        if labels >= n:
            return f"{labels} new labels (>= {n})"
    return None


def retrain_busy(ws: Workspace, scenario: str) -> bool:
    return any(
        j["kind"] == "retrain"
        and j["status"] in ("queued", "running")
        and (j["params"] or {}).get("scenario") == scenario
        for j in ws.store.jobs.list(200)
    )


def run_policies(ws: Workspace, now: datetime | None = None) -> list[dict[str, Any]]:
    """Fire due triggers (each a retrain job, or a skip with its reason) and act on
    auto-promote experiments. Returns what was done."""
    now = now or datetime.now(UTC)
    done = []
    for row in ws.store.policies.all():
        scenario = row["scenario"]
        spec = PolicySpec(**row["spec"])
        if spec.auto_promote:
            done.extend(auto_promote(ws, scenario, now))
        if not spec.triggers or retrain_busy(ws, scenario):
            continue
        trigger = due_trigger(ws, row, now)
        if trigger is None:
            continue
        try:
            registry.retrain_preflight(ws.store, scenario)
        except ModelMintError as exc:  # nothing to learn: say so, and wait for the next one
            ws.store.policies.ran(scenario, f"{trigger}; skipped: {exc.message}"[:1000], None, now)
            done.append({"scenario": scenario, "trigger": trigger, "skipped": exc.message})
            continue
        job = ws.store.jobs.enqueue(
            "retrain", {"scenario": scenario, "trigger": trigger, "policy": True}
        )
        ws.store.policies.ran(scenario, trigger, job["id"], now)
        logger.info("policy of %s: %s -> retrain job %s", scenario, trigger, job["id"])
        done.append({"scenario": scenario, "trigger": trigger, "job": job["id"]})
    return done


def after_retrain(ws: Workspace, scenario: str, result: dict[str, Any]) -> dict[str, Any] | None:
    """A policy with a challenger: the candidate that passed the quality gate (and was held)
    now challenges production in the policy's experiment."""
    row = ws.store.policies.get(scenario)
    if row is None:
        return None
    spec = PolicySpec(**row["spec"])
    if spec.challenger is None or not result["decision"]["promote"]:
        return None
    exp = experiments.start(
        ws.store,
        scenario,
        result["candidate"],
        spec.mode or "shadow",
        now=datetime.now(UTC),
        traffic=spec.traffic,
        metric=spec.metric,
    )
    return {"experiment": exp["id"], "mode": exp["mode"]}


def auto_promote(ws: Workspace, scenario: str, now: datetime) -> list[dict[str, Any]]:
    """Stop the scenario's running experiment with the full gate once its verdict on the
    metric is in (better or worse with evidence); a shadow has no verdict and waits."""
    try:
        exp = experiments.running(ws.store, scenario)
    except ModelMintError:
        return []
    summary = experiments.summary(ws.store, exp)
    verdict = summary.get("verdict")
    if not verdict or not (verdict["better"] or verdict["worse"]):
        return []
    out = stop_experiment(ws, scenario, promote=True, now=now)
    gate = out["decision"]["gate"]
    logger.info("policy of %s: experiment decided: %s", scenario, gate["reason"])
    return [{"scenario": scenario, "experiment": exp["id"], "promoted": gate["promote"]}]


def has_challenger(ws: Workspace, scenario: str) -> bool:
    row = ws.store.policies.get(scenario)
    return bool(row and row["spec"].get("challenger"))
