"""Wiring of the stages, one concept per module:

- ``workspace``: :class:`Workspace` (settings, the migrated store, the embedding cache) and the
  ``Progress`` callback type every step takes;
- ``training``: train -> evaluate -> register (:func:`train_and_register`), cross-validation;
- ``evaluation``: a registered model on its frozen test split (:func:`evaluate_ref`), the whole
  evaluation with report and card (:func:`evaluate_full`), :func:`compare_models`;
- ``monitoring``: a version's reference profile at training (:func:`profile_into`), a
  window of traffic against it (:func:`monitor_report`), the worker's evaluation of every
  scenario with alerts (:func:`evaluate_scenarios`), their delivery, and log retention;
- ``experimenting``: stopping an experiment, with the promotion gate on quality and on the
  business metric (:func:`stop_experiment`);
- ``export``: ONNX export as the next version, with what changed (:func:`export_model`);
- ``retraining``: the closed loop, curate feedback -> snapshot -> train -> evaluate ->
  register -> gate -> promote (:func:`retrain`);
- ``scouting``: the scenario scout's pilots in a scratch workspace, priced and ranked
  (:func:`run_scout`), their promotion through data add -> train -> register
  (:func:`promote_pilot`), and the bundled candidates (:func:`bundled_candidates`);
- ``worker``: the job worker that runs retrains queued over HTTP (the server never trains
  itself), and delivers alerts and ends trials on each turn (:func:`run_worker`).

Each module imports only those above it in this list; everything public is importable from
``modelmint.pipeline``."""

from __future__ import annotations

from modelmint.pipeline.evaluation import (
    Evaluation,
    compare_models,
    evaluate_full,
    evaluate_ref,
    load_model,
    report_dict,
)
from modelmint.pipeline.experimenting import experiment_gate, stop_experiment
from modelmint.pipeline.export import export_model, hf_path_of
from modelmint.pipeline.monitoring import (
    deliver_alerts,
    evaluate_scenarios,
    monitor_report,
    profile_into,
    purge_log,
)
from modelmint.pipeline.retraining import RetrainResult, retrain, retrain_preflight
from modelmint.pipeline.scouting import bundled_candidates, load_pilot, promote_pilot, run_scout
from modelmint.pipeline.training import TrainOutcome, cross_validate, train_and_register
from modelmint.pipeline.worker import JOB_KINDS, run_job, run_worker
from modelmint.pipeline.workspace import Progress, Workspace

__all__ = [
    "JOB_KINDS",
    "Evaluation",
    "Progress",
    "RetrainResult",
    "TrainOutcome",
    "Workspace",
    "bundled_candidates",
    "compare_models",
    "cross_validate",
    "deliver_alerts",
    "evaluate_full",
    "evaluate_ref",
    "evaluate_scenarios",
    "experiment_gate",
    "export_model",
    "hf_path_of",
    "load_model",
    "load_pilot",
    "monitor_report",
    "profile_into",
    "promote_pilot",
    "purge_log",
    "report_dict",
    "retrain",
    "retrain_preflight",
    "run_job",
    "run_scout",
    "run_worker",
    "stop_experiment",
    "train_and_register",
]
