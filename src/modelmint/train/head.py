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

    Returns (T, NLL at T=1, NLL at T). Rows whose label the head never saw are ignored."""
    from scipy.optimize import minimize_scalar

    keep = y >= 0
    logits, y = logits[keep].astype(np.float64), y[keep]
    before = _nll(logits, y)
    if len(y) < 2:
        return 1.0, before, before
    res = minimize_scalar(lambda t: _nll(logits / t, y), bounds=(0.01, 100.0), method="bounded")
    t = float(res.x)
    after = _nll(logits / t, y)
    if after > before:  # never make it worse
        return 1.0, before, before
    return t, before, after


def train_text_classifier(
    examples: list[Example],
    config: TrainConfig,
    out_dir: Path,
    *,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
) -> TrainResult:
    """Embed the train and validation splits (cached), fit the head, write the model directory."""
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    train = [e for e in examples if e.split == "train"]
    val = [e for e in examples if e.split == "validation"]
    labels = sorted({e.label for e in train})
    if len(labels) < 2:
        raise InvalidInput(
            "the train split has fewer than two classes; add examples of every class"
        )
    if not val:
        raise InvalidInput("the dataset has no validation split; re-add it with --validation-size")
    encoder = get_encoder(config.base_model)
    texts = [e.text for e in train] + [e.text for e in val]

    def on_embed(done: int, total: int) -> None:
        if progress:
            progress("embedding", done, total)

    x, hits, misses = embed_with_cache(
        encoder, texts, config.max_tokens, cache, batch_size=config.batch_size, progress=on_embed
    )
    x_train, x_val = x[: len(train)], x[len(train) :]
    index = {lab: i for i, lab in enumerate(labels)}
    y_train = np.array([index[e.label] for e in train])
    y_val = np.array([index.get(e.label, -1) for e in val])

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
    weight = clf.coef_.astype(np.float32)
    bias = clf.intercept_.astype(np.float32)
    if len(labels) == 2:  # sklearn's binary head is one row; store it as two logits
        weight = np.vstack([-weight[0] / 2, weight[0] / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2], dtype=np.float32)
    val_acc = float((clf.predict(x_val) == y_val).mean())
    # temperature scaling on the validation split: the same argmax, honest probabilities
    temperature, nll_before, nll_after = fit_temperature(x_val @ weight.T + bias, y_val)
    weight, bias = weight / temperature, bias / temperature
    validation_metrics = {
        "accuracy": round(val_acc, 6),
        "macro_f1": round(f1, 6),
        "C": c,
        "temperature": round(temperature, 4),
        "nll_before_calibration": round(nll_before, 4),
        "nll_after_calibration": round(nll_after, 4),
    }
    save_model_dir(
        out_dir,
        weight=weight,
        bias=bias,
        config={
            "format": "modelmint-model-v1",
            "task": "text-classification",
            "labels": labels,
            "base_model": config.base_model,
            "max_tokens": config.max_tokens,
            "train_config": config.to_dict(),
            "validation": validation_metrics,
            "selection_curve": curve,
            "n_train": len(train),
            "n_validation": len(val),
            **(metadata or {}),
        },
    )
    seconds = time.perf_counter() - started
    logger.info("trained head on %d examples in %.1fs (val macro-F1 %.3f)", len(train), seconds, f1)
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
