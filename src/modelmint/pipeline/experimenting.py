"""Experiments wired to the workspace: stopping one, with the promotion gate when asked.

The gate promotes the challenger only when (a) on the frozen test split it is better than
production by the paired test (or non-inferior within ``margin``, when the business metric is
the point), and (b) when the experiment measured a business metric, the challenger is not worse
on it with evidence (its always-valid interval entirely below zero). The decision, with all its
evidence, is stored on the experiment; a refused challenger keeps the ``candidate`` alias."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelmint import evaluate, experiments, registry
from modelmint.pipeline.evaluation import dataset_of, point_at_images
from modelmint.pipeline.workspace import Progress, Workspace


def experiment_gate(
    ws: Workspace,
    exp: dict[str, Any],
    summary: dict[str, Any],
    *,
    margin: float | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    scenario = exp["scenario"]
    prod_ref, prod = registry.load(ws.store, f"{scenario}:{exp['production_version']}")
    cand_ref, cand = registry.load(ws.store, f"{scenario}:{exp['challenger_version']}")
    # the challenger's dataset: a retrained one inherits production's test split unchanged
    examples, image_root = dataset_of(ws, cand_ref)
    reports = []
    for i, model in enumerate((prod, cand)):
        point_at_images(model, image_root)
        if progress:
            progress("evaluating", i, 2)
        reports.append(evaluate.evaluate_model(model, examples, split="test", cache=ws.cache))
    quality = evaluate.gate(reports[1], reports[0], margin=margin)
    verdict = summary.get("verdict")
    worse = bool(verdict and verdict["worse"])
    if verdict is None:
        business = (
            "not measured: a shadow answers no one, so it earns no outcomes"
            if exp["mode"] == "shadow"
            else "not measured: the experiment had no --metric"
        )
    else:
        business = verdict["reason"]
    promote = quality.promote and not worse
    return {
        "promote": promote,
        "dataset": cand_ref.dataset,
        "quality": quality.to_dict(),
        "business": {"worse": worse, "reason": business},
        "reason": (
            f"promoted: {quality.reason}; {business}"
            if promote
            else "refused: "
            + (quality.reason if not quality.promote else f"business metric worse: {business}")
        ),
        "models": {"production": prod_ref.ref, "challenger": cand_ref.ref},
    }


def stop_experiment(
    ws: Workspace,
    scenario: str,
    *,
    promote: bool = False,
    margin: float | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Stop the scenario's running experiment; with `promote`, run the gate and promote the
    challenger if it passes (else it keeps the `candidate` alias). Returns the decision."""
    now = now or datetime.now(UTC)
    exp = experiments.running(ws.store, scenario)
    summary = experiments.summary(ws.store, exp)
    decision: dict[str, Any] = {"asked": "promote" if promote else "keep"}
    if promote:
        decision["gate"] = experiment_gate(ws, exp, summary, margin=margin, progress=progress)
    final = experiments.finish(ws.store, exp, decision, now)
    version = exp["challenger_version"]
    if promote and not (
        not decision["gate"]["promote"]
        and ws.store.models.resolve_alias(scenario, "candidate") == version
    ):  # a refused challenger is the candidate (unless it already is)
        gate = decision["gate"]
        registry.promote(
            ws.store,
            f"{scenario}:{version}",
            alias="production" if gate["promote"] else "candidate",
            reason=f"experiment {exp['id']}: {gate['reason']}"[:500],
            expect_current=exp["production_version"] if gate["promote"] else "any",
        )
    return final
