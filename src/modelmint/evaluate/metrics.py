"""Classification metrics on a frozen split (scikit-learn underneath)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelmint.modeling import EmbeddingCache, LoadedModel
from modelmint.types import EvalReport, Example


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


def evaluate_model(
    model: LoadedModel,
    examples: Sequence[Example],
    *,
    split: str = "test",
    cache: EmbeddingCache | None = None,
    progress=None,
) -> EvalReport:
    """Predict every example of `split` and score the predictions."""
    rows = [e for e in examples if e.split == split]
    x = model.embed([e.text for e in rows], cache, progress=progress)
    proba = model.proba_from_embeddings(x)
    preds = model.predictions_from_proba(proba)
    y_true = [e.label for e in rows]
    labels = sorted(set(model.labels) | set(y_true))
    if labels != list(model.labels):  # a test label the model never saw: no column for it
        full = np.zeros((len(rows), len(labels)), dtype=proba.dtype)
        for j, lab in enumerate(model.labels):
            full[:, labels.index(lab)] = proba[:, j]
        proba = full
    return classification_report(y_true, [p.label for p in preds], labels, split=split, proba=proba)
