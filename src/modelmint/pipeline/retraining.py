"""The closed loop: curate feedback -> snapshot -> train -> evaluate -> register -> gate ->
promote, with production scored on the same frozen test split as the candidate."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelmint import data, evaluate, feedback, registry
from modelmint.errors import InvalidInput
from modelmint.pipeline.evaluation import load_model
from modelmint.pipeline.training import train_and_register
from modelmint.pipeline.workspace import Progress, Workspace
from modelmint.registry.retrainable import retrain_preflight
from modelmint.train import TrainConfig
from modelmint.types import FEEDBACK_TASKS, DatasetRef, EvalReport, Example, ModelRef


@dataclass
class RetrainResult:
    scenario: str
    production_before: ModelRef
    candidate: ModelRef
    dataset: DatasetRef
    curation: dict[str, int]
    candidate_report: EvalReport
    production_report: EvalReport
    decision: evaluate.GateDecision
    production_after: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "production_before": self.production_before.ref,
            "candidate": self.candidate.ref,
            "dataset": self.dataset.ref,
            "curation": self.curation,
            "candidate_test": self.candidate_report.headline(),
            "production_test": self.production_report.headline(),
            "decision": self.decision.to_dict(),
            "production_after": f"{self.scenario}:{self.production_after}",
            "promoted": self.promoted,
        }

    @property
    def promoted(self) -> bool:
        """Whether the candidate passed the gate and is production now."""
        return self.production_after == self.candidate.version


def retrain(
    ws: Workspace,
    scenario: str,
    *,
    min_improvement: float = 0.0,
    progress: Progress | None = None,
    promote: bool = True,
    rows: Path | None = None,
) -> RetrainResult:
    """Feedback (and corrected `rows`, if given) becomes training data; a new version is
    trained and promoted only if the gate passes on the same frozen test split as production.

    Every task in FEEDBACK_TASKS learns from its feedback; every task, entities and images
    included, learns from corrected rows (a file with the columns of its data, or class folders
    of images): a corrected row replaces the row of the same input and keeps its split, a new
    one joins the training split.

    Refused before any training (see :func:`retrain_preflight`): no labelled feedback new to
    production's dataset and no rows, or feedback already trained into another version (a
    rejected candidate). A candidate the gate rejects is registered under the ``candidate``
    alias and returned with ``decision.promote`` False; the CLI turns that into GateRejected
    (exit 8)."""
    # cheap: refuse before reading or curating anything
    plan = retrain_preflight(ws.store, scenario, with_rows=rows is not None)
    prod_ref = registry.get(ws.store, f"{scenario}:production")
    ds_name, ds_version = prod_ref.dataset.split(":")
    ds_row = ws.store.datasets.get(ds_name, int(ds_version))
    base = data.read_examples(Path(ds_row["path"]))
    stats: dict[str, int] = {"feedback": 0, "examples": 0, "corrections": 0}
    fresh: list[Example] = []
    if plan.task in FEEDBACK_TASKS:
        fb, stats = feedback.curate(
            ws.store, scenario, sorted(ds_row["labels"]), plan.task, columns=_columns(base)
        )
        if rows is None:  # the same check on the curated examples (votes, medians): exact
            retrain_preflight(ws.store, scenario, [(e.input_key(), e.answer()) for e in fb])
        seen = {e.input_key() for e in base}
        fresh = [e for e in fb if e.input_key() not in seen]
        stats["already_in_dataset"] = len(fb) - len(fresh)
    stats["added"] = len(fresh)
    examples = base + fresh
    source: dict[str, Any] = {
        "kind": "feedback",
        "parent": prod_ref.dataset,
        "feedback_examples": len(fresh),
    }
    if rows is not None:
        corrected, rows_ref = data.read_corrections(
            ws.store,
            ws.settings.datasets_dir,
            ds_row,
            rows,
            max_bytes=ws.settings.max_file_bytes,
            progress=progress,
        )
        examples, row_stats = data.merge_corrections(examples, corrected)
        stats.update({f"rows_{k}": v for k, v in row_stats.items()})
        source.update(kind="corrections" if not fresh else "feedback+corrections")
        source["corrections"] = rows_ref.ref
        if not fresh and not row_stats["corrected"] and not row_stats["added"]:
            raise InvalidInput(
                f"the {row_stats['rows']} rows of {rows.name} change nothing in "
                f"{prod_ref.dataset} (every input is there with the same answer); give rows "
                "that correct or add examples"
            )
    audit = data.audit_rows([{"text": e.input_key(), "label": e.answer()} for e in examples])
    audit["feedback"] = stats
    new_ds, _ = data.store_version(
        ws.store,
        ws.settings.datasets_dir,
        ds_name,
        examples,
        audit=audit,
        source=source,
        parent_id=ds_row["id"],
        task=ds_row["task"],
    )
    config = TrainConfig.from_dict(
        ws.store.models.get(prod_ref.name, prod_ref.version)["train_config"]
    )
    outcome = train_and_register(
        ws, scenario, dataset_version=new_ds.version, config=config, progress=progress
    )
    if outcome is None:
        raise InvalidInput("retrain runs in one process; start it without torchrun")
    # production scored on the very same frozen test split (the split is inherited unchanged)
    prod_model = load_model(prod_ref.path, image_root=Path(new_ds.path).parent / "images")
    prod_report = evaluate.evaluate_model(prod_model, examples, split="test", cache=ws.cache)
    y_true = [e.answer() for e in examples if e.split == "test"]
    decision = evaluate.gate(outcome.report, prod_report, y_true, min_improvement=min_improvement)
    # a candidate that fails the gate is still registered, under the `candidate` alias; so is
    # one that passes when a policy sends it into an experiment first (promote=False)
    promoted = decision.promote and promote
    registry.promote(
        ws.store,
        outcome.model.ref,
        alias="production" if promoted else "candidate",
        reason=f"retrain gate: {decision.reason}"
        + ("" if promoted or not decision.promote else " (held for an experiment)"),
        expect_current=prod_ref.version if promoted else "any",
    )
    after = outcome.model.version if promoted else prod_ref.version
    return RetrainResult(
        scenario,
        prod_ref,
        registry.get(ws.store, outcome.model.ref),
        new_ds,
        stats,
        outcome.report,
        prod_report,
        decision,
        after,
    )


def _columns(base: list[Example]) -> dict[str, bool] | None:
    """A tabular dataset's columns, each with whether it is numeric (every value a number or
    missing); None for the other tasks."""
    rows = [e.features for e in base if e.features is not None]
    if not rows:
        return None
    out: dict[str, bool] = {}
    for col in rows[0]:
        out[col] = all(
            r.get(col) is None or (isinstance(r[col], int | float) and not isinstance(r[col], bool))
            for r in rows
        )
    return out
