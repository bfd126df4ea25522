"""Classification metrics on a frozen split (scikit-learn underneath)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from modelmint.modeling import REGRESSION, EmbeddingCache, Model
from modelmint.types import EvalReport, Example


def confused_pairs(
    labels: Sequence[str], confusion: Sequence[Sequence[int]], top: int = 10
) -> list[tuple[str, str, int]]:
    """The most frequent mistakes as (true label, predicted label, count), largest first (ties
    in label order): what a terminal can show when the confusion matrix is too wide."""
    pairs = [
        (labels[i], labels[j], int(n))
        for i, row in enumerate(confusion)
        for j, n in enumerate(row)
        if i != j and n > 0
    ]
    pairs.sort(key=lambda p: -p[2])  # stable: ties keep the matrix order
    return pairs[:top]


def classification_report(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    split: str = "test",
    proba: np.ndarray | None = None,
    seed: int = 0,
) -> EvalReport:
    """Accuracy, macro and per-class precision/recall/F1, confusion matrix; with `proba` (rows in
    `labels` order) also ROC-AUC, PR-AUC, calibration (ECE and reliability bins), bootstrap 95%
    intervals and the majority-class baseline."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(labels)
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    mp, mr, mf, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    per_class = {
        lab: {
            "precision": round(float(p[i]), 6),
            "recall": round(float(r[i]), 6),
            "f1": round(float(f[i]), 6),
            "support": int(s[i]),
        }
        for i, lab in enumerate(labels)
    }
    return EvalReport(
        split=split,
        n=len(y_true),
        accuracy=round(float(accuracy_score(y_true, y_pred)), 6),
        macro_precision=round(float(mp), 6),
        macro_recall=round(float(mr), 6),
        macro_f1=round(float(mf), 6),
        per_class=per_class,
        labels=tuple(labels),
        confusion=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        predictions=tuple(y_pred),
        losses=tuple(float(p != t) for p, t in zip(y_pred, y_true, strict=True)),
        extra=_extra(list(y_true), list(y_pred), labels, proba, seed),
    )


def _extra(
    y_true: list[str], y_pred: list[str], labels: list[str], proba: np.ndarray | None, seed: int
) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    out: dict[str, Any] = {}
    n = len(y_true)
    if n == 0:
        return out
    idx = {lab: i for i, lab in enumerate(labels)}
    t = np.array([idx[y] for y in y_true])
    p = np.array([idx[y] for y in y_pred])
    # bootstrap 95% intervals (percentile, 1,000 resamples of the test rows)
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, n, size=(1000, n))
    accs = (t[samples] == p[samples]).mean(axis=1)
    f1s = [
        f1_score(t[s], p[s], labels=range(len(labels)), average="macro", zero_division=0)
        for s in samples[:300]
    ]  # F1 is costlier; 300 resamples keep it under a second
    out["accuracy_ci95"] = [
        round(float(np.percentile(accs, 2.5)), 4),
        round(float(np.percentile(accs, 97.5)), 4),
    ]
    out["macro_f1_ci95"] = [
        round(float(np.percentile(f1s, 2.5)), 4),
        round(float(np.percentile(f1s, 97.5)), 4),
    ]
    # the trivial baseline: always the most frequent test class
    majority = np.bincount(t, minlength=len(labels)).argmax()
    base = np.full(n, majority)
    out["baseline"] = {
        "predicts": labels[int(majority)],
        "accuracy": round(float((base == t).mean()), 6),
        "macro_f1": round(
            float(f1_score(t, base, labels=range(len(labels)), average="macro", zero_division=0)), 6
        ),
    }
    if proba is None or len(set(t.tolist())) < 2:
        return out
    onehot = np.eye(len(labels))[t]
    present = onehot.sum(axis=0) > 0
    if len(labels) == 2:
        out["roc_auc"] = round(float(roc_auc_score(t, proba[:, 1])), 6)
        out["pr_auc"] = round(float(average_precision_score(t, proba[:, 1])), 6)
    else:
        out["roc_auc"] = round(
            float(roc_auc_score(onehot[:, present], proba[:, present], average="macro")), 6
        )
        out["pr_auc"] = round(
            float(average_precision_score(onehot[:, present], proba[:, present], average="macro")),
            6,
        )
    # calibration: expected calibration error of the top-class confidence, 10 equal-width bins
    conf = proba.max(axis=1)
    right = (proba.argmax(axis=1) == t).astype(float)
    edges = np.linspace(0, 1, 11)
    bins, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if m.any():
            gap = abs(float(right[m].mean()) - float(conf[m].mean()))
            ece += gap * m.mean()
            bins.append(
                {
                    "from": round(float(lo), 2),
                    "to": round(float(hi), 2),
                    "n": int(m.sum()),
                    "confidence": round(float(conf[m].mean()), 4),
                    "accuracy": round(float(right[m].mean()), 4),
                }
            )
    out["ece"] = round(float(ece), 6)
    out["reliability"] = bins
    return out


def regression_report(
    y_true: np.ndarray, y_pred: np.ndarray, split: str = "test", seed: int = 0
) -> EvalReport:
    """MAE, RMSE, R², MAPE (over non-zero targets), bootstrap 95% interval of MAE, the
    mean-predicting baseline, and residuals for the plot."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    n = len(y_true)
    err = np.abs(y_true - y_pred)
    nz = y_true != 0
    metrics: dict[str, Any] = {
        "mae": round(float(mean_absolute_error(y_true, y_pred)), 6) if n else 0.0,
        "rmse": round(float(np.sqrt(mean_squared_error(y_true, y_pred))), 6) if n else 0.0,
        "r2": round(float(r2_score(y_true, y_pred)), 6) if n > 1 else 0.0,
        "mape": round(float(np.mean(err[nz] / np.abs(y_true[nz]))), 6) if nz.any() else None,
    }
    extra: dict[str, Any] = {}
    if n:
        rng = np.random.default_rng(seed)
        maes = err[rng.integers(0, n, size=(1000, n))].mean(axis=1)
        metrics["mae_ci95"] = [
            round(float(np.percentile(maes, 2.5)), 4),
            round(float(np.percentile(maes, 97.5)), 4),
        ]
        base = np.full(n, y_true.mean())
        extra["baseline"] = {
            "predicts": "the mean",
            "mae": round(float(np.abs(y_true - base).mean()), 6),
            "rmse": round(float(np.sqrt(((y_true - base) ** 2).mean())), 6),
        }
        k = min(n, 2000)
        extra["residuals"] = {
            "predicted": [round(float(v), 4) for v in y_pred[:k]],
            "actual": [round(float(v), 4) for v in y_true[:k]],
        }
    return EvalReport(
        split=split,
        n=n,
        task="regression",
        metrics=metrics,
        extra=extra,
        losses=tuple(float(e) for e in err),
        primary="mae",
        higher_is_better=False,
        predictions=tuple(f"{v:.6g}" for v in y_pred),
    )


def multilabel_report(
    y_true: list[tuple[str, ...]],
    proba: np.ndarray,
    labels: list[str],
    thresholds: list[float],
    split: str = "test",
) -> EvalReport:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    t = np.array([[lab in row for lab in labels] for row in y_true], dtype=bool)
    pred = proba >= np.array(thresholds)
    p, r, f, s = precision_recall_fscore_support(t, pred, average=None, zero_division=0)
    metrics = {
        "micro_f1": round(float(f1_score(t, pred, average="micro", zero_division=0)), 6),
        "macro_f1": round(float(f1_score(t, pred, average="macro", zero_division=0)), 6),
        "subset_accuracy": round(float((t == pred).all(axis=1).mean()) if len(t) else 0.0, 6),
        "hamming_loss": round(float((t != pred).mean()) if len(t) else 0.0, 6),
    }
    per_class = {
        lab: {
            "precision": round(float(p[i]), 6),
            "recall": round(float(r[i]), 6),
            "f1": round(float(f[i]), 6),
            "support": int(s[i]),
        }
        for i, lab in enumerate(labels)
    }
    return EvalReport(
        split=split,
        n=len(t),
        task="multi-label",
        metrics=metrics,
        per_class=per_class,
        labels=tuple(labels),
        losses=tuple(float(v) for v in (t != pred).mean(axis=1)),
        primary="micro_f1",
        predictions=tuple(
            ",".join(lab for lab, on in zip(labels, row, strict=True) if on) for row in pred
        ),
    )


def entity_report(
    y_true: list[list[str]], y_pred: list[list[str]], split: str = "test"
) -> EvalReport:
    """Span-level precision/recall/F1 (conlleval rules, seqeval), overall and per entity type."""
    from seqeval.metrics import f1_score

    from modelmint.modeling.tokens import span_f1

    scores = span_f1(y_true, y_pred)
    per_sentence = [
        1.0 - (f1_score([t], [p], zero_division=1) if any(x != "O" for x in t + p) else 1.0)
        for t, p in zip(y_true, y_pred, strict=True)
    ]
    return EvalReport(
        split=split,
        n=len(y_true),
        task="token-classification",
        metrics={
            "span_precision": scores["precision"],
            "span_recall": scores["recall"],
            "span_f1": scores["f1"],
        },
        per_class={
            k: {
                "precision": v["precision"],
                "recall": v["recall"],
                "f1": v["f1-score"],
                "support": int(v["support"]),
            }
            for k, v in scores["per_type"].items()
        },
        labels=tuple(sorted(scores["per_type"])),
        losses=tuple(per_sentence),
        primary="span_f1",
    )


def evaluate_model(
    model: Model,
    examples: Sequence[Example],
    *,
    split: str = "test",
    cache: EmbeddingCache | None = None,
    progress=None,
) -> EvalReport:
    """Predict every example of `split` and score the predictions the way its task needs."""
    rows = [e for e in examples if e.split == split]
    inputs = [model.input_of(e) for e in rows]
    task = model.task
    if task == "token-classification":
        from modelmint.modeling.tokens import to_chars

        out = model.outputs(inputs, cache, progress=progress)
        truth = [
            to_chars(list(e.tokens), list(e.tags))[1]
            if model.config.get("tokenization") == "chars"
            else list(e.tags)
            for e in rows
        ]
        return entity_report(truth, [list(tags) for _, tags in out], split=split)
    out = model.outputs(inputs, cache, progress=progress)
    if task in REGRESSION:
        truth = np.array([float(e.target) for e in rows])
        return replace(regression_report(truth, out, split=split), task=task)
    if task == "multi-label":
        thresholds = model.config.get("thresholds") or [0.5] * len(model.labels)
        return multilabel_report(
            [e.labels for e in rows], out, model.labels, thresholds, split=split
        )
    if task == "faq":
        return _faq_report(model, rows, out, split)
    proba = out
    preds = model.to_predictions(proba)
    y_true = [e.label for e in rows]
    labels = sorted(set(model.labels) | set(y_true))
    if labels != list(model.labels):  # a test label the model never saw: no column for it
        full = np.zeros((len(rows), len(labels)), dtype=proba.dtype)
        for j, lab in enumerate(model.labels):
            full[:, labels.index(lab)] = proba[:, j]
        proba = full
    report = classification_report(
        y_true, [p.label for p in preds], labels, split=split, proba=proba
    )
    return replace(report, task=task)


def _faq_report(model: Model, rows: list[Example], sims: np.ndarray, split: str) -> EvalReport:
    """Top-1 accuracy (the answer returned is right) plus recall@5 and MRR over the ranked
    answers; questions whose answer the index does not know count as misses."""
    labels = list(model.labels)
    index = {a: i for i, a in enumerate(labels)}
    truth = np.array([index.get(e.label, -1) for e in rows])
    order = np.argsort(-sims, axis=1)
    rank = np.array(
        [int(np.where(order[i] == t)[0][0]) + 1 if t >= 0 else 0 for i, t in enumerate(truth)]
    )
    hit = rank > 0
    top1 = order[:, 0] if len(rows) else np.zeros(0, dtype=int)
    y_pred = [labels[int(i)] for i in top1]
    y_true = [e.label for e in rows]
    acc = float((np.array(y_pred) == np.array(y_true)).mean()) if rows else 0.0
    metrics = {
        "accuracy": round(acc, 6),
        "recall_at_5": round(float((hit & (rank <= 5)).mean()) if rows else 0.0, 6),
        "mrr": round(
            float(np.where(hit, 1.0 / np.maximum(rank, 1), 0.0).mean()) if rows else 0.0, 6
        ),
        "unknown_answers": int((~hit).sum()),
        "mean_top_score": round(float(sims.max(axis=1).mean()) if rows else 0.0, 6),
    }
    return EvalReport(
        split=split,
        n=len(rows),
        accuracy=metrics["accuracy"],
        task="faq",
        metrics=metrics,
        predictions=tuple(y_pred),
        losses=tuple(float(p != t) for p, t in zip(y_pred, y_true, strict=True)),
        primary="accuracy",
    )
