"""Wiring of the stages: train -> evaluate -> register, and the closed loop
retrain(): curate feedback -> snapshot -> train -> evaluate -> register -> gate -> promote.

Also the job worker that runs retrains queued over HTTP (the server never trains itself)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelmint import data, evaluate, feedback, registry
from modelmint.billing.alerts import deliver_due as deliver_alerts
from modelmint.errors import InvalidInput, ModelMintError
from modelmint.modeling import EmbeddingCache, Model, load_model_dir
from modelmint.registry.retrainable import retrain_preflight
from modelmint.settings import Settings
from modelmint.store import Store, new_id, open_store
from modelmint.train import TrainConfig, loop, train_model
from modelmint.types import DatasetRef, EvalReport, ModelRef, TrainResult

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass
class Workspace:
    """Everything a command needs: settings, the migrated store and the embedding cache."""

    settings: Settings
    store: Store
    cache: EmbeddingCache

    @classmethod
    def open(cls, settings: Settings) -> Workspace:
        # private: the database, datasets and models hold customers' data (0700; the SQLite
        # file is created 0600 by the store). Folders that exist keep their mode, with a warning.
        for folder in (settings.home, settings.datasets_dir, settings.models_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix" and settings.home.stat().st_mode & 0o077:
            logger.warning(
                "MODELMINT_HOME %s is readable by other users; run `chmod 700 %s`",
                settings.home,
                settings.home,
            )
        store = open_store(settings.sqlalchemy_url)
        return cls(settings, store, EmbeddingCache(settings.cache_dir / "embeddings.sqlite"))

    def close(self) -> None:
        self.store.close()


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
        report = evaluate.evaluate_model(
            model,
            examples,
            split="test",
            cache=ws.cache,
            progress=(lambda d, t: progress("evaluating", d, t)) if progress else None,
        )
        (staged / "evaluation.json").write_text(json.dumps(report_dict(report), indent=2))
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


def load_model(path: Path, image_root: Path | None = None) -> Model:
    """Load a model directory; image models also learn where their dataset's images are."""
    model = load_model_dir(path)
    if image_root is not None:
        _point_at_images(model, image_root)
    return model


def _point_at_images(model: Model, image_root: Path) -> None:
    """Image models read stored examples from their dataset's image folder."""
    if hasattr(model, "image_root"):
        model.image_root = image_root


def _dataset_of(ws: Workspace, mref: ModelRef) -> tuple[list, Path]:
    """The examples of the dataset version a registered model was trained on, and its images."""
    name, version = mref.dataset.split(":")
    path = Path(ws.store.datasets.get(name, int(version))["path"])
    return data.read_examples(path), path.parent / "images"


def report_dict(report: EvalReport) -> dict[str, Any]:
    return {
        "split": report.split,
        "task": report.task,
        "n": report.n,
        "primary": report.primary,
        **report.headline(),
        "per_class": report.per_class,
        "labels": list(report.labels),
        "confusion": report.confusion,
        **{k: v for k, v in report.extra.items() if k in ("reliability", "residuals")},
    }


def evaluate_ref(
    ws: Workspace, ref: str, progress: Progress | None = None
) -> tuple[ModelRef, EvalReport]:
    """Score a registered model on the frozen test split of the dataset it was trained on."""
    mref, model = registry.load(ws.store, ref)
    examples, image_root = _dataset_of(ws, mref)
    _point_at_images(model, image_root)
    report = evaluate.evaluate_model(
        model,
        examples,
        split="test",
        cache=ws.cache,
        progress=(lambda d, t: progress("evaluating", d, t)) if progress else None,
    )
    return mref, report


@dataclass
class Evaluation:
    model: ModelRef
    report: EvalReport
    comparison: evaluate.GateDecision | None
    robustness: dict[str, Any]
    html_path: Path | None
    card_path: Path | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.ref,
            "dataset": self.model.dataset,
            **report_dict(self.report),
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "robustness": self.robustness,
            "report_html": str(self.html_path) if self.html_path else None,
            "model_card": str(self.card_path) if self.card_path else None,
        }


def evaluate_full(
    ws: Workspace,
    ref: str,
    *,
    progress: Progress | None = None,
    robustness: bool = True,
    write: bool = True,
) -> Evaluation:
    """The whole evaluation of a registered model: metrics on its frozen test split, the paired
    comparison with the scenario's production version on that same split, robustness under
    perturbations, and (with ``write``) the HTML report and model card under
    ``<home>/reports/NAME-vN/``."""
    from modelmint.evaluate.html import model_card, render_report
    from modelmint.evaluate.robustness import robustness as run_robustness

    mref, model = registry.load(ws.store, ref)
    examples, image_root = _dataset_of(ws, mref)
    _point_at_images(model, image_root)
    report = evaluate.evaluate_model(
        model,
        examples,
        split="test",
        cache=ws.cache,
        progress=(lambda d, t: progress("evaluating", d, t)) if progress else None,
    )
    comparison = None
    prod_version = ws.store.models.resolve_alias(mref.name, "production")
    if prod_version is not None and prod_version != mref.version:
        _, prod_model = registry.load(ws.store, f"{mref.name}:{prod_version}")
        if prod_model.task == model.task:
            _point_at_images(prod_model, image_root)
            prod_report = evaluate.evaluate_model(
                prod_model, examples, split="test", cache=ws.cache
            )
            comparison = evaluate.gate(report, prod_report)
    robust: dict[str, Any] = {}
    if robustness:
        if progress:
            progress("robustness", 0, 1)
        robust = run_robustness(model, examples, split="test")
        if progress:
            progress("robustness", 1, 1)
    html_path = card_path = None
    if write:
        out = ws.settings.home / "reports" / f"{mref.name}-v{mref.version}"
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        rd = report_dict(report)
        html_path = out / "report.html"
        html_path.write_text(
            render_report(
                mref.ref,
                rd,
                model.config,
                robustness=robust,
                comparison=comparison.to_dict() if comparison else None,
            ),
            encoding="utf-8",
        )
        card_path = out / "model_card.md"
        card_path.write_text(model_card(mref.ref, rd, model.config, robust), encoding="utf-8")
    return Evaluation(mref, report, comparison, robust, html_path, card_path)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _speed(model: Model, texts: list[str]) -> dict[str, float]:
    """Texts per second in batches of 32, and the median latency of one text (ms)."""
    model.outputs(texts[:8])  # warm up
    started = time.perf_counter()
    model.outputs(texts)
    batch_rate = len(texts) / (time.perf_counter() - started)
    single = []
    for t in texts[:30]:
        s0 = time.perf_counter()
        model.outputs([t])
        single.append((time.perf_counter() - s0) * 1000)
    single.sort()
    return {
        "texts_per_s_batch32": round(batch_rate, 1),
        "p50_ms_batch1": round(single[len(single) // 2], 2),
    }


def export_model(
    ws: Workspace, ref: str, *, int8: bool = True, progress: Progress | None = None
) -> dict[str, Any]:
    """Export `ref` to ONNX (int8 by default) as the next version of its scenario, with the
    accuracy, speed and size change measured on the same frozen test split."""
    from modelmint.registry.export import export_onnx

    mref, model = registry.load(ws.store, ref)
    ds_name, ds_version = mref.dataset.split(":")
    ds_row = ws.store.datasets.get(ds_name, int(ds_version))
    examples = data.read_examples(Path(ds_row["path"]))
    staged = ws.settings.models_dir / mref.name / f".staging-{new_id()}"
    try:
        if progress:
            progress("exporting", 0, 3)
        export_onnx(model, staged, int8=int8)
        exported = load_model_dir(staged)
        if progress:
            progress("evaluating", 1, 3)
        before = evaluate.evaluate_model(model, examples, split="test", cache=ws.cache)
        after = evaluate.evaluate_model(exported, examples, split="test")
        texts = [e.text for e in examples if e.split == "test"][:256]
        if progress:
            progress("timing", 2, 3)
        speed_before, speed_after = _speed(model, texts), _speed(exported, texts)
        size_before, size_after = _dir_bytes(mref.path), _dir_bytes(staged)
        if model.kind == "linear-head":
            size_before += _dir_bytes(Path(hf_path_of(model.base_model)))
        summary = {
            "source": mref.ref,
            "format": "onnx int8" if int8 else "onnx fp32",
            "accuracy_before": before.accuracy,
            "accuracy_after": after.accuracy,
            "accuracy_change": round(after.accuracy - before.accuracy, 6),
            "agreement": round(
                sum(a == b for a, b in zip(before.predictions, after.predictions, strict=True))
                / max(1, before.n),
                6,
            ),
            "speed_before": speed_before,
            "speed_after": speed_after,
            "speedup_batch32": round(
                speed_after["texts_per_s_batch32"] / speed_before["texts_per_s_batch32"], 2
            ),
            "bytes_before": size_before,
            "bytes_after": size_after,
            "size_ratio": round(size_after / size_before, 3),
            "timed_on": f"{len(texts)} test texts, this machine",
        }
        (staged / "evaluation.json").write_text(json.dumps(report_dict(after), indent=2))
        metrics = {
            "test": after.headline(),
            "export": summary,
            "n_train": mref.metrics.get("n_train"),
        }
        new = registry.register(
            ws.store,
            ws.settings.models_dir,
            mref.name,
            staged,
            dataset_id=ds_row["id"],
            metrics=metrics,
        )
        if progress:
            progress("exporting", 3, 3)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    return {"model": new.ref, **summary}


def compare_models(
    ws: Workspace, a: str, b: str, progress: Progress | None = None
) -> dict[str, Any]:
    """Both models on the frozen test split of the first one's dataset, with the paired test."""
    ra, ma = registry.load(ws.store, a)
    rb, mb = registry.load(ws.store, b)
    if ma.task != mb.task:
        raise InvalidInput(
            f"{ra.ref} is {ma.task} and {rb.ref} is {mb.task}; compare models of one task"
        )
    examples, image_root = _dataset_of(ws, ra)
    for m in (ma, mb):
        _point_at_images(m, image_root)
    reports = []
    for i, m in enumerate((ma, mb)):
        if progress:
            progress("evaluating", i, 2)
        reports.append(evaluate.evaluate_model(m, examples, split="test", cache=ws.cache))
    if progress:
        progress("evaluating", 2, 2)
    decision = evaluate.gate(reports[1], reports[0])
    return {
        "dataset": ra.dataset,
        "a": {"model": ra.ref, "metrics": reports[0].headline()},
        "b": {"model": rb.ref, "metrics": reports[1].headline()},
        "decision": decision.to_dict(),
        "verdict": f"{rb.ref} vs {ra.ref}: {decision.reason}".replace(
            "vs production", f"vs {ra.ref}"
        ),
    }


def hf_path_of(base_model: str) -> str:
    from modelmint.modeling.encoders import hf_path

    return hf_path(base_model)


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
        return self.decision.promote


def retrain(
    ws: Workspace,
    scenario: str,
    *,
    min_improvement: float = 0.0,
    progress: Progress | None = None,
) -> RetrainResult:
    """Feedback becomes training data; a new version is trained and promoted only if the gate
    passes on the same frozen test split as production.

    Refused before any training (see :func:`retrain_preflight`): a task that retraining does
    not cover, no labelled feedback new to production's dataset, or feedback already trained
    into another version (a rejected candidate). A candidate the gate rejects is registered
    under the ``candidate`` alias and returned with ``decision.promote`` False; the CLI turns
    that into GateRejected (exit 8)."""
    retrain_preflight(ws.store, scenario)  # cheap: refuse before reading or curating anything
    prod_ref = registry.get(ws.store, f"{scenario}:production")
    ds_name, ds_version = prod_ref.dataset.split(":")
    ds_row = ws.store.datasets.get(ds_name, int(ds_version))
    base = data.read_examples(Path(ds_row["path"]))
    fb, stats = feedback.curate(ws.store, scenario, sorted(ds_row["labels"]))
    # the same check on the curated examples (majority vote, ties dropped): exact, not light
    retrain_preflight(ws.store, scenario, [(e.text, e.label) for e in fb])
    seen = {e.text for e in base}
    fresh = [e for e in fb if e.text not in seen]
    stats["already_in_dataset"] = len(fb) - len(fresh)
    stats["added"] = len(fresh)
    examples = base + fresh
    audit = data.audit_rows([{"text": e.text, "label": e.label} for e in examples])
    audit["feedback"] = stats
    new_ds, _ = data.store_version(
        ws.store,
        ws.settings.datasets_dir,
        ds_name,
        examples,
        audit=audit,
        source={"kind": "feedback", "parent": prod_ref.dataset, "feedback_examples": len(fresh)},
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
    prod_model = load_model_dir(prod_ref.path)
    prod_report = evaluate.evaluate_model(prod_model, examples, split="test", cache=ws.cache)
    y_true = [e.label for e in examples if e.split == "test"]
    decision = evaluate.gate(outcome.report, prod_report, y_true, min_improvement=min_improvement)
    # a candidate that fails the gate is still registered, under the `candidate` alias
    registry.promote(
        ws.store,
        outcome.model.ref,
        alias="production" if decision.promote else "candidate",
        reason=f"retrain gate: {decision.reason}",
        expect_current=prod_ref.version if decision.promote else "any",
    )
    after = outcome.model.version if decision.promote else prod_ref.version
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


# the job worker ---------------------------------------------------------------------------------
JOB_KINDS = ("retrain",)


def run_job(ws: Workspace, job: dict[str, Any]) -> dict[str, Any]:
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
        res = retrain(
            ws,
            scenario,
            min_improvement=float(params.get("min_improvement", 0.0)),
            progress=progress,
        )
        return res.to_dict()
    raise InvalidInput(f"unknown job kind '{job['kind']}'; known: {', '.join(JOB_KINDS)}")


def run_worker(ws: Workspace, *, once: bool = False, stop: threading.Event | None = None) -> int:
    """Take queued jobs one at a time until stopped (or, with once, until the queue is empty).

    Returns the number of jobs run."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    stop = stop or threading.Event()
    ran = 0
    logger.info("worker %s started: polling every %gs", name, ws.settings.worker_poll_seconds)
    while not stop.is_set():
        try:  # quota and budget alerts: signed webhooks, retried with backoff
            deliver_alerts(ws.store, settings=ws.settings)
        except Exception:  # a webhook problem must never stop the jobs
            logger.exception("alert delivery failed")
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


__all__ = [
    "Evaluation",
    "RetrainResult",
    "TrainOutcome",
    "Workspace",
    "compare_models",
    "cross_validate",
    "evaluate_full",
    "evaluate_ref",
    "export_model",
    "report_dict",
    "retrain",
    "retrain_preflight",
    "run_job",
    "run_worker",
    "train_and_register",
]
