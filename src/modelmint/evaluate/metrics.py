"""Classification metrics on a frozen split (scikit-learn underneath)."""

from __future__ import annotations

from collections.abc import Sequence

from modelmint.modeling import EmbeddingCache, LoadedModel
from modelmint.types import EvalReport, Example


def classification_report(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], split: str = "test"
) -> EvalReport:
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
    )


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
    preds = model.predictions_from_proba(model.proba_from_embeddings(x))
    y_true = [e.label for e in rows]
    labels = sorted(set(model.labels) | set(y_true))
    return classification_report(y_true, [p.label for p in preds], labels, split=split)
