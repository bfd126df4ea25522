"""Frozen encoder + trained head: examples in, model directory out. No database."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import InvalidInput
from modelmint.modeling import EmbeddingCache, embed_with_cache, get_encoder, save_model_dir
from modelmint.train.config import TrainConfig
from modelmint.types import Example, TrainResult

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def _nll(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """The temperature T minimising validation NLL of softmax(logits / T) (Guo et al. 2017).

    Returns (T, NLL at T=1, NLL at T). Rows whose label the head never saw are ignored; with
    fewer than 10 validation rows T stays 1."""
    from scipy.optimize import minimize_scalar

    keep = y >= 0
    logits, y = logits[keep].astype(np.float64), y[keep]
    before = _nll(logits, y) if len(y) else 0.0
    # one scalar, but not from a handful of rows (few-shot): then the logits stay as they are
    if len(y) < 10:
        return 1.0, before, before
    res = minimize_scalar(lambda t: _nll(logits / t, y), bounds=(0.01, 100.0), method="bounded")
    t = float(res.x)
    after = _nll(logits / t, y)
    if after > before:  # never make it worse
        return 1.0, before, before
    return t, before, after


def split_examples(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    train = [e for e in examples if e.split == "train"]
    val = [e for e in examples if e.split == "validation"]
    if not train:
        raise InvalidInput(
            "the dataset has no training rows; add more data or re-add it with smaller "
            "--validation-size/--test-size"
        )
    if not val:
        raise InvalidInput("the dataset has no validation split; re-add it with --validation-size")
    return train, val


def train_text_classifier(
    examples: list[Example],
    config: TrainConfig,
    out_dir: Path,
    *,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
    task: str = "text-classification",
) -> TrainResult:
    """Embed the train and validation splits (cached), fit the head, write the model directory.

    ``task`` picks the head: softmax (text-classification), one sigmoid per label with tuned
    thresholds (multi-label), or ridge regression on a standardised target (text-regression)."""
    started = time.perf_counter()
    train, val = split_examples(examples)
    if task == "text-classification" and len({e.label for e in train}) < 2:
        raise InvalidInput(
            "the train split has fewer than two classes; add examples of every class"
        )
    encoder = get_encoder(config.base_model)
    texts = [e.text for e in train] + [e.text for e in val]

    def on_embed(done: int, total: int) -> None:
        if progress:
            progress("embedding", done, total)

    x, hits, misses = embed_with_cache(
        encoder, texts, config.max_tokens, cache, batch_size=config.batch_size, progress=on_embed
    )
    x_train, x_val = x[: len(train)], x[len(train) :]
    fit = {
        "text-classification": _fit_softmax,
        "multi-label": _fit_multilabel,
        "text-regression": _fit_ridge,
    }.get(task)
    if fit is None:
        raise InvalidInput(f"task {task} does not train a text head")
    weight, bias, extra_config, validation_metrics, curve = fit(
        train, val, x_train, x_val, config, progress
    )
    labels = extra_config.pop("labels", [])
    save_model_dir(
        out_dir,
        weight=weight.astype(np.float32),
        bias=bias.astype(np.float32),
        config={
            "format": "modelmint-model-v1",
            "kind": "linear-head",
            "task": task,
            "labels": labels,
            "base_model": config.base_model,
            "max_tokens": config.max_tokens,
            "train_config": config.to_dict(),
            "validation": validation_metrics,
            "selection_curve": curve,
            "n_train": len(train),
            "n_validation": len(val),
            **extra_config,
            **(metadata or {}),
        },
    )
    seconds = time.perf_counter() - started
    logger.info("trained %s head on %d examples in %.1fs", task, len(train), seconds)
    return TrainResult(
        model_dir=out_dir,
        labels=tuple(labels),
        n_train=len(train),
        n_validation=len(val),
        validation_metrics=validation_metrics,
        seconds=seconds,
        embed_cache_hits=hits,
        embed_cache_misses=misses,
    )


def _fit_softmax(train, val, x_train, x_val, config: TrainConfig, progress):
    from sklearn.linear_model import LogisticRegression

    labels = sorted({e.label for e in train})
    index = {lab: i for i, lab in enumerate(labels)}
    y_train = np.array([index[e.label] for e in train])
    y_val = np.array([index.get(e.label, -1) for e in val])
    if config.dp_epsilon is not None:
        return _fit_softmax_dp(labels, y_train, y_val, x_train, x_val, config, progress)
    best: tuple[float, float, Any] | None = None
    curve = []
    for i, c in enumerate(config.c_values):
        if progress:
            progress("fitting head", i, len(config.c_values))
        clf = LogisticRegression(
            C=c,
            max_iter=config.max_iter,
            class_weight="balanced" if config.class_weight == "balanced" else None,
            random_state=config.seed,
        )
        clf.fit(x_train, y_train)
        f1 = _macro_f1(y_val, clf.predict(x_val))
        curve.append({"C": c, "validation_macro_f1": round(f1, 6)})
        if best is None or f1 > best[0]:
            best = (f1, c, clf)
    if progress:
        progress("fitting head", len(config.c_values), len(config.c_values))
    assert best is not None
    f1, c, clf = best
    weight = clf.coef_.astype(np.float64)
    bias = clf.intercept_.astype(np.float64)
    if len(labels) == 2:  # sklearn's binary head is one row; store it as two logits
        weight = np.vstack([-weight[0] / 2, weight[0] / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2])
    val_acc = float((clf.predict(x_val) == y_val).mean())
    # temperature scaling on the validation split: the same argmax, honest probabilities
    temperature, nll_before, nll_after = fit_temperature(x_val @ weight.T + bias, y_val)
    metrics = {
        "accuracy": round(val_acc, 6),
        "macro_f1": round(f1, 6),
        "C": c,
        "temperature": round(temperature, 4),
        "nll_before_calibration": round(nll_before, 4),
        "nll_after_calibration": round(nll_after, 4),
    }
    return weight / temperature, bias / temperature, {"labels": labels}, metrics, curve


def _fit_softmax_dp(labels, y_train, y_val, x_train, x_val, config: TrainConfig, progress):
    from modelmint.train.dp import fit_dp_head

    weight, bias, privacy, curve = fit_dp_head(
        x_train, y_train, x_val, y_val, len(labels), config, progress
    )
    logits = x_val @ weight.T + bias
    keep = y_val >= 0
    acc = float((logits.argmax(1)[keep] == y_val[keep]).mean()) if keep.any() else 0.0
    f1 = _macro_f1(y_val[keep], logits.argmax(1)[keep])
    temperature, nll_before, nll_after = fit_temperature(logits, y_val)
    metrics = {
        "accuracy": round(acc, 6),
        "macro_f1": round(f1, 6),
        "temperature": round(temperature, 4),
        "nll_before_calibration": round(nll_before, 4),
        "nll_after_calibration": round(nll_after, 4),
    }
    extra = {"labels": labels, "privacy": privacy, "learning_curve": curve}
    return weight / temperature, bias / temperature, extra, metrics, []


def _fit_multilabel(train, val, x_train, x_val, config: TrainConfig, progress):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    labels = sorted({lab for e in train for lab in e.labels})
    if not labels:
        raise InvalidInput("no training row has any label switched on; check the label columns")
    y_train = np.array([[lab in e.labels for lab in labels] for e in train], dtype=int)
    y_val = np.array([[lab in e.labels for lab in labels] for e in val], dtype=int)
    weights, biases, thresholds, curve = [], [], [], []
    for j, lab in enumerate(labels):
        if progress:
            progress("fitting head", j, len(labels))
        col = y_train[:, j]
        if col.min() == col.max():  # a label always (or never) on: a constant logit
            weights.append(np.zeros(x_train.shape[1]))
            biases.append(8.0 if col[0] else -8.0)
            thresholds.append(0.5)
            continue
        best = None
        for c in config.c_values:
            clf = LogisticRegression(
                C=c,
                max_iter=config.max_iter,
                class_weight="balanced" if config.class_weight == "balanced" else None,
                random_state=config.seed,
            ).fit(x_train, col)
            p = clf.predict_proba(x_val)[:, 1]
            # the threshold that maximises this label's validation F1
            t_best, f_best = 0.5, -1.0
            for t in np.linspace(0.05, 0.95, 19):
                f = f1_score(y_val[:, j], p >= t, zero_division=0)
                if f > f_best:
                    t_best, f_best = float(t), float(f)
            curve.append({"label": lab, "C": c, "validation_f1": round(f_best, 6)})
            if best is None or f_best > best[0]:
                best = (f_best, clf, t_best)
        assert best is not None
        weights.append(best[1].coef_[0])
        biases.append(float(best[1].intercept_[0]))
        thresholds.append(round(best[2], 4))
    if progress:
        progress("fitting head", len(labels), len(labels))
    weight, bias = np.vstack(weights), np.array(biases)
    p_val = 1 / (1 + np.exp(-(x_val @ weight.T + bias)))
    pred = p_val >= np.array(thresholds)
    metrics = {
        "micro_f1": round(float(f1_score(y_val, pred, average="micro", zero_division=0)), 6),
        "macro_f1": round(float(f1_score(y_val, pred, average="macro", zero_division=0)), 6),
        "subset_accuracy": round(float((pred == y_val.astype(bool)).all(axis=1).mean()), 6),
    }
    return weight, bias, {"labels": labels, "thresholds": thresholds}, metrics, curve


def _fit_ridge(train, val, x_train, x_val, config: TrainConfig, progress):
    from sklearn.linear_model import Ridge

    y_train = np.array([float(e.target) for e in train if e.target is not None])
    if len(y_train) != len(train):
        raise InvalidInput("some training rows have no target value; fill or drop them")
    y_val = np.array([float(e.target) if e.target is not None else np.nan for e in val])
    mean, std = float(y_train.mean()), float(y_train.std() or 1.0)
    best = None
    curve = []
    for i, c in enumerate(config.c_values):
        if progress:
            progress("fitting head", i, len(config.c_values))
        reg = Ridge(alpha=1.0 / c, random_state=config.seed).fit(x_train, (y_train - mean) / std)
        pred = reg.predict(x_val) * std + mean
        ok = ~np.isnan(y_val)
        rmse = float(np.sqrt(np.mean((pred[ok] - y_val[ok]) ** 2)))
        curve.append({"C": c, "validation_rmse": round(rmse, 6)})
        if best is None or rmse < best[0]:
            best = (rmse, c, reg)
    assert best is not None
    rmse, c, reg = best
    metrics = {"rmse": round(rmse, 6), "C": c}
    extra = {"target_mean": mean, "target_std": std}
    return reg.coef_[None, :], np.array([reg.intercept_]), extra, metrics, curve
