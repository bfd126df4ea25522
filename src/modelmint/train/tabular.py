"""Tabular classification and regression with LightGBM: categorical features natively, early
stopping on validation, balanced class weights, deterministic with a seed."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import InvalidInput, TrainingDiverged
from modelmint.modeling import save_model_dir
from modelmint.modeling.tabular import MODEL_FILE, Schema
from modelmint.train.config import TrainConfig
from modelmint.train.head import Progress, split_examples
from modelmint.types import Example, TrainResult

logger = logging.getLogger(__name__)


def train_tabular(
    examples: list[Example],
    config: TrainConfig,
    out_dir: Path,
    *,
    task: str,
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> TrainResult:
    import lightgbm as lgb

    started = time.perf_counter()
    train, val = split_examples(examples)
    schema = Schema.infer([e.features or {} for e in train])
    if not schema.columns:
        raise InvalidInput("the training rows have no features; re-add the data with --features")
    x_train = schema.matrix([e.features or {} for e in train])
    x_val = schema.matrix([e.features or {} for e in val])
    regression = task == "tabular-regression"
    labels: list[str] = []
    weights = None
    if regression:
        y_train = np.array([float(e.target) for e in train])  # type: ignore[arg-type]
        y_val = np.array([float(e.target) for e in val])  # type: ignore[arg-type]
        objective: dict[str, Any] = {"objective": "regression", "metric": "l2"}
    else:
        labels = sorted({e.label for e in train})
        if len(labels) < 2:
            raise InvalidInput(
                "the train split has fewer than two classes; add examples of every class"
            )
        index = {lab: i for i, lab in enumerate(labels)}
        y_train = np.array([index[e.label] for e in train])
        keep = np.array([e.label in index for e in val])
        x_val = x_val[keep]
        y_val = np.array([index[e.label] for e in val if e.label in index])
        if config.class_weight == "balanced":
            counts = np.bincount(y_train, minlength=len(labels))
            weights = (len(y_train) / (len(labels) * counts))[y_train]
        objective = (
            {"objective": "binary", "metric": "binary_logloss"}
            if len(labels) == 2
            else {"objective": "multiclass", "num_class": len(labels), "metric": "multi_logloss"}
        )
    p = {
        **objective,
        "learning_rate": config.learning_rate or 0.05,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": max(2, min(20, len(train) // 50)),
        "seed": config.seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": 1
        if len(train) < 20_000
        else 0,  # threads cost more than they give on small data
        "verbose": -1,
        **(params or {}),
    }
    dtrain = lgb.Dataset(
        x_train,
        y_train,
        weight=weights,
        feature_name=[f"f{i}" for i in range(len(schema.columns))],
        categorical_feature=schema.categorical or "auto",
        free_raw_data=False,
    )
    dval = lgb.Dataset(x_val, y_val, reference=dtrain)
    history: dict[str, Any] = {}

    def on_round(env: Any) -> None:
        loss = env.evaluation_result_list[-1][2] if env.evaluation_result_list else 0.0
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the validation loss became {loss} at round {env.iteration}; lower --learning-rate"
            )
        if progress and env.iteration % 10 == 0:
            progress("boosting", env.iteration, config.max_rounds)

    booster = lgb.train(
        p,
        dtrain,
        num_boost_round=config.max_rounds,
        valid_sets=[dtrain, dval],
        valid_names=["train", "validation"],
        callbacks=[
            lgb.early_stopping(config.patience * 25, verbose=False),
            lgb.record_evaluation(history),
            on_round,
        ],
    )
    if progress:
        progress("boosting", config.max_rounds, config.max_rounds)
    metric = objective["metric"]
    curve = [
        {"round": i + 1, "train_loss": round(float(a), 6), "validation_loss": round(float(b), 6)}
        for i, (a, b) in enumerate(
            zip(history["train"][metric], history["validation"][metric], strict=True)
        )
    ]
    best = booster.best_iteration or booster.current_iteration()
    pred = booster.predict(x_val, num_iteration=best)
    if not np.isfinite(pred).all():
        raise TrainingDiverged(
            "the model's validation predictions are not finite numbers; lower --learning-rate "
            "(nothing was registered)"
        )
    if regression:
        rmse = float(np.sqrt(np.mean((pred - y_val) ** 2)))
        validation = {"rmse": round(rmse, 6), "best_round": best}
    else:
        cls = (pred >= 0.5).astype(int) if pred.ndim == 1 else pred.argmax(axis=1)
        validation = {"accuracy": round(float((cls == y_val).mean()), 6), "best_round": best}
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (out_dir / MODEL_FILE).write_text(booster.model_to_string(num_iteration=best))
    save_model_dir(
        out_dir,
        config={
            "format": "modelmint-model-v1",
            "kind": "lightgbm",
            "task": task,
            "labels": labels,
            "base_model": "lightgbm",
            "schema": schema.to_dict(),
            "train_config": config.to_dict(),
            "lightgbm_params": {k: v for k, v in p.items() if k != "verbose"},
            "validation": validation,
            "learning_curve": curve,
            "n_train": len(train),
            "n_validation": len(val),
            **(metadata or {}),
        },
    )
    seconds = time.perf_counter() - started
    logger.info("trained LightGBM (%s) on %d rows in %.1fs", task, len(train), seconds)
    return TrainResult(
        model_dir=out_dir,
        labels=tuple(labels),
        n_train=len(train),
        n_validation=len(val),
        validation_metrics=validation,
        seconds=seconds,
        embed_cache_hits=0,
        embed_cache_misses=0,
    )
