"""Monitoring wired to the workspace: profile a version's reference when it is trained, report a
window of a scenario's traffic against it, evaluate every scenario on the worker's schedule
(alerts raised once per crossing, cleared on recovery, POSTed to the owner's webhook), and purge
the prediction log past its retention."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from modelmint import monitor
from modelmint.errors import ModelMintError
from modelmint.modeling import CLASSIFICATION, REGRESSION, Model
from modelmint.modeling.text import TextHeadModel
from modelmint.monitor import Reference, WindowSpec
from modelmint.monitor.reference import SAMPLE
from modelmint.monitor.service import monitor_report, read_window
from modelmint.pipeline.workspace import Workspace
from modelmint.types import Example

logger = logging.getLogger(__name__)

SLOW_SAMPLE = 300  # reference rows for models that run their own network per input
PROFILED_TASKS = (*CLASSIFICATION, *REGRESSION, "multi-label", "faq")


# --- the reference, at training --------------------------------------------------------------
def reference_rows(examples: list[Example], n: int, seed: int = 0) -> list[Example]:
    """Held-out rows first (outputs on training rows are over-confident), topped up with
    training rows, at most `n`, in a seeded random order."""
    rnd = random.Random(seed)
    held = [e for e in examples if e.split in ("validation", "test")]
    train = [e for e in examples if e.split == "train"]
    rnd.shuffle(held)
    rnd.shuffle(train)
    return (held + train)[:n]


def profile_into(
    ws: Workspace, model: Model, examples: list[Example], directory: Path
) -> Reference | None:
    """Build the version's reference profile and save it beside the model (None for tasks
    monitoring does not profile: entities and images are watched on their outputs' volume)."""
    if model.task not in PROFILED_TASKS or model.task == "image-classification":
        return None
    head = isinstance(model, TextHeadModel)
    cheap = head or model.task.startswith("tabular")
    rows = reference_rows(examples, SAMPLE if cheap else SLOW_SAMPLE)
    if not rows:
        return None
    inputs = [model.input_of(e) for e in rows]
    embeddings = model.embed(inputs, ws.cache) if head else None
    outputs: Any = None
    try:
        outputs = (
            model.from_embeddings(embeddings)  # type: ignore[attr-defined]
            if embeddings is not None
            else model.outputs(inputs, ws.cache)
        )
    except Exception as exc:  # a profile must never stop a registration
        logger.warning("no output profile for %s: %s", model.task, exc)
    ref = monitor.build(
        model.task,
        model.labels,
        inputs,
        training_texts=[e.text for e in examples if e.split == "train" and e.text],
        heldout_texts=[e.text for e in examples if e.split != "train" and e.text][:SAMPLE],
        embeddings=embeddings,
        outputs=outputs if model.task != "faq" else None,
    )
    ref.save(directory)
    return ref


# --- the worker's evaluation -----------------------------------------------------------------
def evaluate_scenarios(ws: Workspace, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Evaluate every production scenario's signals over the configured window; raise an alert
    per signal that crossed into `alert`, clear those back to `ok`. Returns the changes."""
    now = now or datetime.now(UTC)
    spec = monitor.parse_window(ws.settings.monitor_window)
    done = []
    names = sorted({a["name"] for a in ws.store.models.aliases() if a["alias"] == "production"})
    for scenario in names:
        try:
            report = monitor_report(ws.store, ws.settings, scenario, spec, now=now, series=False)
        except ModelMintError as exc:
            logger.warning("cannot monitor %s: %s", scenario, exc.message)
            continue
        done.extend(apply_changes(ws, report, spec, now))
    return done


def apply_changes(
    ws: Workspace, report: dict[str, Any], spec: WindowSpec, now: datetime
) -> list[dict[str, Any]]:
    scenario, version = report["scenario"], report["version"]
    repo = ws.store.monitoring
    delivery = "pending" if ws.settings.monitor_webhook_url else "no_webhook"
    out = []
    for change in monitor.changes(report["signals"], repo.open_alerts(scenario)):
        details = {
            "signal": change.details,
            "window": report["window"],
            "business": business_change(ws, scenario, spec, now),
        }
        if change.action == "raise":
            aid = repo.raise_alert(
                scenario, version, change.signal, details, now, delivery=delivery
            )
            logger.warning("alert raised: %s %s (%s)", scenario, change.signal, aid)
        else:
            assert change.alert_id is not None
            aid = change.alert_id
            repo.clear_alert(aid, details, now, delivery=delivery)
            logger.info("alert cleared: %s %s (%s)", scenario, change.signal, aid)
        out.append(
            {"id": aid, "scenario": scenario, "signal": change.signal, "action": change.action}
        )
    return out


def business_change(
    ws: Workspace, scenario: str, spec: WindowSpec, now: datetime
) -> dict[str, Any]:
    """Each outcome event's rate and value per call in this window and in the one before it
    (same length), so an alert says what the change costs."""
    if spec.span is None:
        return {}
    previous = replace(spec, since=now - 2 * spec.span)
    out: dict[str, Any] = {}
    for name, when in (("current", now), ("previous", now - spec.span)):
        window, labels = read_window(
            ws.store, scenario, previous if name == "previous" else spec, when
        )
        totals = monitor.report.business(window, labels)
        for event, per_version in totals.items():
            calls = sum(v["calls"] for v in per_version.values())
            hits = sum(v["with_event"] for v in per_version.values())
            value = sum((v["value_per_call"] or 0) * v["calls"] for v in per_version.values())
            out.setdefault(event, {})[name] = {
                "calls": calls,
                "rate": round(hits / calls, 6) if calls else None,
                "value_per_call": round(value / calls, 6) if calls else None,
            }
    for per in out.values():
        cur, prev = per.get("current") or {}, per.get("previous") or {}
        if cur.get("rate") is not None and prev.get("rate") is not None:
            per["rate_change"] = round(cur["rate"] - prev["rate"], 6)
            per["value_per_call_change"] = round(cur["value_per_call"] - prev["value_per_call"], 6)
    return out


# --- retention -------------------------------------------------------------------------------
def purge_log(ws: Workspace, *, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    return ws.store.monitoring.purge(now - timedelta(days=ws.settings.log_retention_days))


def alert_payload(alert: dict[str, Any]) -> bytes:
    """The body POSTed for a monitoring alert (raised or cleared)."""
    return json.dumps(
        {
            "id": alert["id"],
            "type": f"monitor.{alert['signal']}.{alert['state']}",
            "scenario": alert["scenario"],
            "model": f"{alert['scenario']}:{alert['model_version']}",
            "raised_at": alert["raised_at"].isoformat(),
            "cleared_at": alert["cleared_at"].isoformat() if alert["cleared_at"] else None,
            "details": alert["details"],
        },
        separators=(",", ":"),
        default=str,
    ).encode()


def deliver_alerts(ws: Workspace, *, now: datetime | None = None, post: Any = None) -> int:
    """POST due monitoring alerts (raised and cleared) to ``monitor_webhook_url``, signed as
    tenants' webhooks are (``ModelMint-Signature``) with ``monitor_webhook_secret``; retried
    with the same backoff. Returns how many were delivered."""
    from modelmint.billing import webhooks
    from modelmint.billing.alerts import SIGNATURE_HEADER, attempt, sign

    now = now or datetime.now(UTC)
    url = ws.settings.monitor_webhook_url
    secret = ws.settings.monitor_webhook_secret
    delivered = 0
    for alert in ws.store.monitoring.due(now):
        if not url or secret is None:
            ws.store.monitoring.mark(alert["id"], delivery="no_webhook", next_attempt_at=None)
            continue
        body = alert_payload(alert)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret.get_secret_value(), body),
            "ModelMint-Event-Id": f"{alert['id']}.{alert['state']}",
        }

        def send(body: bytes = body, headers: dict[str, str] = headers) -> int:
            addresses = webhooks.resolve_target(
                url, allow_private=ws.settings.webhook_allow_private
            )
            if post is not None:
                return post(url, body, headers)
            return webhooks.post_pinned(url, addresses[0], body, headers)

        result = attempt(send, alert["attempts"], now)
        ws.store.monitoring.mark(alert["id"], delivery=result.pop("state"), **result)
        delivered += result["last_error"] is None
    return delivered
