"""Hyperparameter search with Optuna (TPE, seeded). Each trial trains into a scratch folder and
is scored on the validation split; the study lives in the database given as ``storage`` so it
can be inspected (``optuna-dashboard``) and resumed; the store decides where (see
``Database.tuning_storage``)."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from modelmint.errors import InvalidInput
from modelmint.train.config import FULL_LEARNING_RATE, LORA_LEARNING_RATE, TrainConfig
from modelmint.types import Example

logger = logging.getLogger(__name__)


def _objective_metric(task: str, validation: dict[str, Any]) -> tuple[str, float, str]:
    for key, direction in (
        ("macro_f1", "maximize"),
        ("span_f1", "maximize"),
        ("accuracy", "maximize"),
        ("micro_f1", "maximize"),
        ("rmse", "minimize"),
    ):
        if key in validation:
            return key, float(validation[key]), direction
    raise InvalidInput(f"task {task} reports no validation metric to tune on")


def _suggest(trial: Any, task: str, config: TrainConfig) -> TrainConfig:
    if task in ("tabular-classification", "tabular-regression"):
        return dataclasses.replace(
            config,
            learning_rate=trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            num_leaves=trial.suggest_int("num_leaves", 4, 128, log=True),
        )
    if config.method == "head" and task != "image-classification":
        return dataclasses.replace(
            config,
            c_values=(trial.suggest_float("C", 0.01, 100.0, log=True),),
            class_weight=trial.suggest_categorical("class_weight", ["balanced", "none"]),
        )
    default = {"lora": LORA_LEARNING_RATE, "full": FULL_LEARNING_RATE}.get(config.method, 2e-3)
    out = dataclasses.replace(
        config,
        learning_rate=trial.suggest_float("learning_rate", default / 5, default * 5, log=True),
    )
    if config.method == "lora":
        out = dataclasses.replace(out, lora_r=trial.suggest_categorical("lora_r", [4, 8, 16]))
    return out


def tune(
    examples: list[Example],
    task: str,
    config: TrainConfig,
    *,
    trials: int,
    storage: Any,
    study_name: str,
    train_kwargs: dict[str, Any],
    progress: Any = None,
) -> tuple[TrainConfig, dict[str, Any]]:
    """Run `trials` trials; return the best TrainConfig and a summary of the study."""
    import optuna

    from modelmint.train import train_model

    if task == "token-classification":
        raise InvalidInput("--tune is not available for entity models (the CRF picks its own L2)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe: dict[str, str] = {}

    def objective(trial: Any) -> float:
        cfg = _suggest(trial, task, config)
        scratch = Path(tempfile.mkdtemp(prefix="modelmint-trial-"))
        try:
            res = train_model(examples, task, cfg, scratch / "model", **train_kwargs)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        name, value, direction = _objective_metric(task, res.validation_metrics)
        probe.update(metric=name, direction=direction)
        if progress:
            progress("tuning", trial.number + 1, trials)
        return value

    # the direction depends on the task: regression minimises RMSE
    direction = "minimize" if task in ("tabular-regression", "text-regression") else "maximize"
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        load_if_exists=True,
    )
    study.optimize(objective, n_trials=trials)
    best = study.best_trial
    tuned = _suggest(optuna.trial.FixedTrial(best.params), task, config)
    summary = {
        "study": study_name,
        "trials": len(study.trials),
        "metric": probe.get("metric", ""),
        "direction": direction,
        "best_value": round(float(best.value), 6),
        "best_params": best.params,
    }
    logger.info("tuning: best %s = %s with %s", summary["metric"], best.value, best.params)
    return tuned, summary
