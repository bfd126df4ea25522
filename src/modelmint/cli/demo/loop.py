"""The demo's loop steps: monitoring catches a (simulated) shift in the traffic, and the
retrained version challenges production, first in the shadow, then in a split judged on
(simulated) conversions, and the gate decides with its evidence. Each step returns a value."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelmint.cli.demo.api import SCENARIO, Api, predict_one
from modelmint.cli.demo.steps import Progress, Reviews, Shop, stratified_sample

if TYPE_CHECKING:
    from modelmint.pipeline import Workspace

WINDOW = 150  # predictions per monitoring window in the demo
# SIMULATED shift: customers abroad start writing in English
SUBJECTS = ("the phone", "the delivery", "this hotel", "customer service", "the screen", "my order")
VERBS = ("was", "is", "felt", "seemed")
ENDS = (
    "great",
    "awful",
    "too slow",
    "fine, thanks",
    "broken on arrival",
    "worth the money",
    "not what I ordered",
)


@dataclass(frozen=True)
class Watched:
    """Monitoring of the last WINDOW predictions before and after a simulated shift."""

    calm: dict[str, Any]  # signals of the window of ordinary (simulated) traffic
    shifted: dict[str, Any]  # signals of the window of shifted (simulated) traffic
    embedding_auc: float | None  # the domain classifier's AUC on the shifted window
    alerts: list[dict[str, Any]]  # what the worker's evaluation raised
    calls: int  # predict calls made with acme's key in this step


def watch_drift(
    ws: Workspace, api: Api, shop: Shop, reviews: Reviews, *, rng: random.Random, progress: Progress
) -> Watched:
    from modelmint import monitor
    from modelmint.pipeline import evaluate_scenarios

    ws.settings.monitor_window = str(WINDOW)
    spec = monitor.parse_window(str(WINDOW))
    ordinary = stratified_sample(reviews.held_out, WINDOW, rng)
    english = [f"{s} {v} {e}" for s in SUBJECTS for v in VERBS for e in ENDS]
    rng.shuffle(english)
    english = english[:WINDOW]
    with api.client(shop.key) as client:
        for i, row in enumerate(ordinary):
            predict_one(client, row["text"])
            progress("ordinary traffic", i + 1, WINDOW)
        calm = monitor.monitor_report(ws.store, ws.settings, SCENARIO, spec, series=False)
        evaluate_scenarios(ws)  # the worker does this every minute
        for i, text in enumerate(english):
            predict_one(client, text)
            progress("shifted traffic", i + 1, WINDOW)
    shifted = monitor.monitor_report(ws.store, ws.settings, SCENARIO, spec, series=False)
    raised = [c for c in evaluate_scenarios(ws) if c["action"] == "raise"]
    emb = (shifted.get("inputs") or {}).get("embedding") or {}
    return Watched(
        calm=calm["signals"],
        shifted=shifted["signals"],
        embedding_auc=emb.get("statistic"),
        alerts=raised,
        calls=len(ordinary) + len(english),
    )


@dataclass(frozen=True)
class Challenged:
    """The retrained version against production: shadow, then a split on conversions."""

    challenger: str
    shadow: dict[str, Any]  # the shadow's summary: agreement, accuracy on the same inputs
    split: dict[str, Any]  # the split's summary, SIMULATED conversions
    gate: dict[str, Any]  # the gate's decision with its evidence
    production: str  # after the gate
    calls: int  # predict calls made with acme's key in this step
    shadow_rows: int  # the shadow's own prediction-log rows (logged, never billed)
    feedback: int  # SIMULATED feedback sent during the shadow
    outcomes: int  # SIMULATED outcomes sent during the split


def challenge(
    ws: Workspace,
    api: Api,
    shop: Shop,
    reviews: Reviews,
    *,
    rng: random.Random,
    progress: Progress,
    calls: int = 300,
) -> Challenged:
    from modelmint import experiments, registry
    from modelmint.pipeline import stop_experiment

    production = registry.get(ws.store, f"{SCENARIO}:production").version
    others = [
        m.version for m in registry.list_models(ws.store, SCENARIO) if m.version != production
    ]
    challenger = f"{SCENARIO}:{max(others)}"
    made = feedback = outcomes = 0
    picked = stratified_sample(reviews.held_out, calls, rng)
    with api.client(shop.key) as client:
        # shadow: the challenger scores the same inputs, never answers
        exp = experiments.start(ws.store, SCENARIO, challenger, "shadow", now=datetime.now(UTC))
        shadow_started = exp["started_at"]
        made += _until(
            client,
            lambda c: (
                bool(predict_one(c, "物流很快，东西不错"))
                and ws.store.experiments.shadow_pairs(exp)["pairs"] > 0
            ),
        )
        for i, row in enumerate(picked[: calls // 3]):
            pred = predict_one(client, row["text"])
            client.post(  # SIMULATED feedback: the true label
                "/v1/feedback", json={"prediction_id": pred["id"], "label": row["label"]}
            ).raise_for_status()
            made += 1
            feedback += 1
            progress("shadow", i + 1, calls // 3)
        shadow = experiments.summary(ws.store, exp)
        experiments.finish(ws.store, exp, {"asked": "keep"}, datetime.now(UTC))
        # split: half of the subjects get the challenger, judged on conversions
        exp = experiments.start(
            ws.store,
            SCENARIO,
            challenger,
            "split",
            now=datetime.now(UTC),
            traffic=50,
            metric="converted",
        )
        made += _until(client, lambda c: _answers(c, challenger))
        for i, row in enumerate(picked):
            pred = predict_one(client, row["text"], subject=f"customer-{i}")
            made += 1
            right = pred["label"] == row["label"]
            if rng.random() < (0.35 if right else 0.12):  # SIMULATED conversions
                client.post(
                    "/v1/outcomes", json={"prediction_id": pred["id"], "event": "converted"}
                ).raise_for_status()
                outcomes += 1
            progress("split", i + 1, len(picked))
    split = experiments.summary(ws.store, exp)
    final = stop_experiment(ws, SCENARIO, promote=True)
    after = registry.get(ws.store, f"{SCENARIO}:production").ref
    shadow_rows = ws.store.experiments.shadow_pairs({**exp, "started_at": shadow_started})
    return Challenged(
        challenger,
        shadow,
        split,
        final["decision"]["gate"],
        after,
        made,
        shadow_rows["pairs"],
        feedback,
        outcomes,
    )


def _answers(client: Any, challenger: str) -> bool:
    """One call with a fresh subject; True once a server process has answered with the
    challenger (it picks the experiment up within its alias refresh)."""
    return (
        predict_one(client, "物流很快", subject=f"probe-{time.monotonic_ns()}")["model"]
        == challenger
    )


def _until(client: Any, ready: Any, timeout: float = 30.0) -> int:
    """Probe until the server has picked up an experiment; each probe is one real (billed)
    predict call, and the number made is returned."""
    made = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        made += 1
        if ready(client):
            return made
        time.sleep(0.2)
    raise TimeoutError("the server did not pick up the experiment within 30 s")
