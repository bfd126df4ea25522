"""The job worker (`modelmint worker`): runs the jobs queued over HTTP (the server never trains
itself), and on each turn of its loop delivers due quota and budget alerts, ends trials that
have run out, evaluates monitoring on its schedule and purges the log past retention."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

from modelmint import audit, experiments
from modelmint.billing.alerts import deliver_due as deliver_alerts
from modelmint.errors import InvalidInput, ModelMintError
from modelmint.pipeline import monitoring
from modelmint.pipeline.experimenting import stop_experiment
from modelmint.pipeline.policies import after_retrain, has_challenger, run_policies
from modelmint.pipeline.retraining import retrain
from modelmint.pipeline.workspace import Workspace

logger = logging.getLogger(__name__)

JOB_KINDS = ("retrain", "experiment-stop")


def run_job(ws: Workspace, job: dict[str, Any]) -> dict[str, Any]:
    """Run one claimed job, reporting its progress on the job row at most every 5 s. What it
    changes is audited as `job:<kind>` with the job's id as the request id (the request that
    queued the job is audited under its own actor)."""
    with audit.acting_as(audit.Actor(f"job:{job['kind']}", str(job["id"]))):
        return _run_job(ws, job)


def _run_job(ws: Workspace, job: dict[str, Any]) -> dict[str, Any]:
    params = job["params"] or {}
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 5.0 or done == total:
            last[0] = now
            ws.store.jobs.progress(
                job["id"], done / total if total else 0.0, f"{stage} {done}/{total}"
            )

    if job["kind"] == "retrain":
        scenario = params.get("scenario")
        if not scenario:
            raise InvalidInput("retrain job without a scenario")
        held = bool(params.get("policy")) and has_challenger(ws, scenario)
        res = retrain(
            ws,
            scenario,
            min_improvement=float(params.get("min_improvement", 0.0)),
            progress=progress,
            promote=not held,
        )
        out = res.to_dict()
        if params.get("trigger"):
            out["trigger"] = params["trigger"]
        if held:
            out["experiment"] = after_retrain(ws, scenario, out)
        return out
    if job["kind"] == "experiment-stop":  # the admin API's stop with --promote: the gate
        margin = params.get("margin")
        return stop_experiment(
            ws,
            str(params.get("scenario")),
            promote=True,
            margin=None if margin is None else float(margin),
            progress=progress,
        )
    raise InvalidInput(f"unknown job kind '{job['kind']}'; known: {', '.join(JOB_KINDS)}")


PURGE_EVERY_SECONDS = 3600.0


def monitor_turn(ws: Workspace, due: dict[str, float]) -> None:
    """Every ``monitor_interval_seconds``: evaluate every scenario's signals (alerts raised and
    cleared), deliver due monitoring alerts and recompute bandits' shares; every hour: purge the log past retention. A
    failure here is logged and never stops the jobs."""
    now = time.monotonic()
    if now >= due["monitor"]:
        due["monitor"] = now + ws.settings.monitor_interval_seconds
        try:
            monitoring.evaluate_scenarios(ws)
            monitoring.deliver_alerts(ws)
        except Exception:
            logger.exception("monitoring evaluation failed")
        try:  # bandits' shares from their outcomes, within a minute of new ones
            experiments.update_bandits(ws.store, datetime.now(UTC))
        except Exception:
            logger.exception("bandit update failed")
        try:  # retraining policies: triggers, and auto-promote experiments
            run_policies(ws)
        except Exception:
            logger.exception("policy evaluation failed")
    if now >= due["purge"]:
        due["purge"] = now + PURGE_EVERY_SECONDS
        try:
            gone = monitoring.purge_log(ws)
            if gone:
                logger.info("purged %d predictions past retention", gone)
        except Exception:
            logger.exception("prediction log purge failed")


def run_worker(ws: Workspace, *, once: bool = False, stop: threading.Event | None = None) -> int:
    """Take queued jobs one at a time until stopped (or, with once, until the queue is empty).

    Returns the number of jobs run."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    audit.set_actor(audit.Actor(f"worker:{name}"))  # trials ended, monitors: the loop itself
    stop = stop or threading.Event()
    ran = 0
    due = {"monitor": 0.0, "purge": 0.0}  # monotonic times of the next evaluation and purge
    logger.info("worker %s started: polling every %gs", name, ws.settings.worker_poll_seconds)
    while not stop.is_set():
        try:  # quota and budget alerts: signed webhooks, retried with backoff
            deliver_alerts(ws.store, settings=ws.settings)
        except Exception:  # a webhook problem must never stop the jobs
            logger.exception("alert delivery failed")
        monitor_turn(ws, due)
        try:  # trials that have run out become paying (active) tenants
            for tenant in ws.store.billing.end_trials():
                logger.info("trial ended: tenant %s is now active", tenant)
        except ModelMintError as exc:
            logger.warning("cannot end trials: %s", exc.message)
        try:
            ws.store.jobs.requeue_stale(ws.settings.job_lease_seconds)
            job = ws.store.jobs.claim_next(name)
        except ModelMintError as exc:  # database briefly unreachable: wait and retry
            logger.warning("cannot claim a job: %s", exc.message)
            stop.wait(ws.settings.worker_poll_seconds)
            continue
        if job is None:
            if once and not ws.store.jobs.queued():
                break
            if not once:
                stop.wait(ws.settings.worker_poll_seconds)
            continue
        ran += 1
        logger.info("job %s (%s) started", job["id"], job["kind"])
        try:
            result = run_job(ws, job)
            status, message = "done", "done"
        except ModelMintError as exc:
            result, status, message = None, "failed", exc.message
            logger.warning("job %s failed: %s", job["id"], exc.message)
        except Exception as exc:  # a bug must not kill the worker; record it on the job
            logger.exception("job %s crashed", job["id"])
            result, status, message = None, "failed", f"internal error: {type(exc).__name__}"
        try:
            ws.store.jobs.finish(job["id"], status, message, result)
            logger.info("job %s %s", job["id"], status)
        except Exception:
            logger.exception("could not record the end of job %s (%s)", job["id"], status)
    return ran
