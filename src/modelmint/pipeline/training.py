"""Training wired to the workspace: train a dataset version, evaluate the model on its frozen
test split and register it (optionally after an Optuna search); and k-fold cross-validation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass
from typing import Any

from modelmint import data, evaluate, registry
from modelmint.pipeline.evaluation import load_model, report_dict, score_on_test
from modelmint.pipeline.monitoring import profile_into
from modelmint.pipeline.workspace import Progress, Workspace
from modelmint.store import new_id
from modelmint.train import TrainConfig, loop, train_model
from modelmint.types import DatasetRef, EvalReport, ModelRef, TrainResult


@dataclass
class TrainOutcome:
    model: ModelRef
    report: EvalReport
    train: TrainResult
    dataset: DatasetRef


def train_and_register(
    ws: Workspace,
    name: str,
    *,
    dataset_version: int | None = None,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    tune: int = 0,
) -> TrainOutcome | None:
    """Train dataset `name` as scenario `name`, evaluate on its frozen test split, register.

    With ``tune`` > 0, first run that many Optuna trials on the validation split (the study is
    stored in the workspace database) and train the final model with the best parameters."""
    config = config or TrainConfig()
    ds = data.to_ref(ws.store.datasets.get(name, dataset_version))
    rank, world_size = loop.world()
    network = ds.task == "image-classification" or config.method in ("lora", "full")
    if world_size > 1 and (rank != 0 and not network):
        return None  # under torchrun only networks train in parallel; rank 0 does the rest
    examples = data.read_examples(ds.path)
    staged = ws.settings.models_dir / name / f".staging-{new_id()}"
    image_root = ds.path.parent / "images"
    # a network that is interrupted resumes from its last epoch when the same run comes again
    run_key = hashlib.sha256(
        json.dumps([ds.content_hash, config.to_dict()], sort_keys=True).encode()
    ).hexdigest()[:16]
    checkpoint = ws.settings.home / "runs" / f"{name}-{run_key}"
    tuning: dict[str, Any] | None = None
    if tune > 0:
        from modelmint.train.tune import tune as run_tune

        config, tuning = run_tune(
            examples,
            ds.task,
            config,
            trials=tune,
            storage=ws.store.db.tuning_storage(),
            study_name=f"{name}-{ds.version}-{config.method}",
            train_kwargs={"cache": ws.cache, "image_root": image_root},
            progress=progress,
        )
    try:
        result = train_model(
            examples,
            ds.task,
            config,
            staged,
            cache=ws.cache,
            progress=progress,
            metadata={
                "dataset": ds.ref,
                "dataset_hash": ds.content_hash,
                **({"tuning": tuning} if tuning else {}),
            },
            image_root=image_root,
            checkpoint=checkpoint,
        )
        if rank != 0:  # a helper process of a distributed run: rank 0 evaluates, registers
            return None
        model = load_model(staged, image_root)
        report = score_on_test(ws, model, examples, progress)
        (staged / "evaluation.json").write_text(json.dumps(report_dict(report), indent=2))
        profile_into(ws, model, examples, staged)  # what monitoring compares traffic with
        metrics = {
            "test": report.headline(),
            "validation": result.validation_metrics,
            "train_seconds": round(result.seconds, 2),
            "n_train": result.n_train,
        }
        dataset_id = ws.store.datasets.get(name, ds.version)["id"]
        mref = registry.register(
            ws.store, ws.settings.models_dir, name, staged, dataset_id=dataset_id, metrics=metrics
        )
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(checkpoint, ignore_errors=True)  # registered: nothing left to resume
    return TrainOutcome(mref, report, result, ds)


def cross_validate(
    ws: Workspace,
    name: str,
    k: int,
    *,
    dataset_version: int | None = None,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """k-fold cross-validation on the train and validation rows (the frozen test split never
    enters): in round i, fold i is held out and scored, fold i+1 is the validation split the
    trainer selects on, and the rest is trained on. Returns every round and the mean and
    standard deviation of each metric."""
    import numpy as np

    config = config or TrainConfig()
    ds = data.to_ref(ws.store.datasets.get(name, dataset_version))
    examples = [e for e in data.read_examples(ds.path) if e.split != "test"]
    folds = data.kfold(examples, k, seed=config.seed)
    image_root = ds.path.parent / "images"
    rounds = []
    for i in range(k):
        split_of = {i: "test", (i + 1) % k: "validation"}
        fold_examples = [
            dataclasses.replace(e, split=split_of.get(f, "train"))
            for e, f in zip(examples, folds, strict=True)
        ]
        scratch = ws.settings.models_dir / name / f".cv-{new_id()}"
        try:
            train_model(
                fold_examples, ds.task, config, scratch, cache=ws.cache, image_root=image_root
            )
            report = evaluate.evaluate_model(
                load_model(scratch, image_root), fold_examples, split="test", cache=ws.cache
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        rounds.append({"fold": i, "n": report.n, **report.headline()})
        if progress:
            progress("cross-validation", i + 1, k)
    numeric = [
        key
        for key, v in rounds[0].items()
        if isinstance(v, int | float) and key not in ("fold", "n", "n_test")
    ]
    summary = {
        key: {
            "mean": round(float(np.mean([r[key] for r in rounds])), 6),
            "std": round(float(np.std([r[key] for r in rounds], ddof=1)), 6),
        }
        for key in numeric
    }
    return {"dataset": ds.ref, "k": k, "rounds": rounds, "summary": summary}
