"""Peer for B3: SetFit (contrastive fine-tuning of the sentence encoder on pairs, then a
logistic-regression head), on the same local all-MiniLM-L6-v2 directory.

Settings: SetFit's documented `TrainingArguments` defaults (embedding batch 16, one embedding
epoch, pair sampling "oversampling", body learning rate 2e-5, warmup 10%, scikit-learn
LogisticRegression head), with inputs truncated to 64 tokens like every system in B3 and a
fixed seed. Nothing else is set.

At those defaults SetFit draws 2 x max(positive, negative) pairs from all pairs of the
training rows (self-pairs included), so the work grows with the square of the rows:
`pairs_at_defaults()` says how many before a run starts. When that is more than a run can
afford, the caller passes `max_steps` (SetFit's own way to bound training: at most
max_steps x 16 pairs are drawn); the result then says so (`at_defaults: false`, the cap, and
the steps the defaults would have taken), and the benchmark states it as a budget in every
comparison that uses the row.

Used in-process by benchmarks/b3_transfer.py through `run()`, or on its own:
    python benchmarks/peers/setfit_peer.py MODEL_DIR train.csv test.csv [MAX_STEPS]
(CSV files with columns text,label).
"""

from __future__ import annotations

import csv
import math
import os
import sys
import tempfile
import time
from collections import Counter
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BATCH_SIZE = 16  # SetFit's default embedding batch size (TrainingArguments.batch_size[0])


def pairs_at_defaults(labels: list[str]) -> dict[str, int]:
    """Pairs and steps SetFit's defaults draw for these training labels (sampling
    "oversampling", one epoch, batch 16; pairs come from combinations with replacement)."""
    counts = Counter(labels)
    n = sum(counts.values())
    pos = sum(c * (c + 1) // 2 for c in counts.values())
    neg = (n * n - sum(c * c for c in counts.values())) // 2
    pairs = 2 * max(pos, neg)
    return {
        "positive_pairs": pos,
        "negative_pairs": neg,
        "pairs": pairs,
        "steps": math.ceil(pairs / BATCH_SIZE),
    }


def run(
    model_path: str,
    train: list[tuple[str, str]],
    test: list[tuple[str, str]],
    *,
    max_steps: int | None = None,
    max_length: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Train SetFit on `train` (text, label) pairs and score `test`.

    max_steps None runs SetFit's defaults; an int caps the contrastive phase (a budget).
    Returns accuracy, macro F1, train_s (model load + contrastive phase + head fit), eval_s."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.metrics import accuracy_score, f1_score

    defaults = pairs_at_defaults([y for _, y in train])
    started = time.perf_counter()
    model = SetFitModel.from_pretrained(model_path)
    ds = Dataset.from_dict({"text": [t for t, _ in train], "label": [y for _, y in train]})
    with tempfile.TemporaryDirectory(prefix="b3-setfit-") as out_dir:
        args = TrainingArguments(
            output_dir=out_dir,
            max_steps=-1 if max_steps is None else max_steps,
            max_length=max_length,
            seed=seed,
            report_to="none",
            show_progress_bar=False,
            save_strategy="no",
            logging_steps=10_000,
        )
        trainer = Trainer(model=model, args=args, train_dataset=ds)
        trainer.train()
    train_s = time.perf_counter() - started
    steps = int(trainer.st_trainer.state.global_step)

    t = time.perf_counter()
    y_pred = [str(p) for p in model.predict([t for t, _ in test], batch_size=64)]
    eval_s = time.perf_counter() - t
    y_true = [y for _, y in test]
    at_defaults = max_steps is None or max_steps >= defaults["steps"]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "train_s": train_s,
        "eval_s": eval_s,
        "details": {
            "at_defaults": at_defaults,
            "max_steps": max_steps,
            "steps": steps,
            "pairs": steps * BATCH_SIZE,
            "defaults_would_draw": defaults,
            "max_length": max_length,
            "batch_size": BATCH_SIZE,
            "settings": "setfit.TrainingArguments defaults"
            + ("" if at_defaults else f", max_steps={max_steps} (a budget)")
            + f", max_length={max_length}, seed={seed}",
        },
    }


def _read(path: str) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    steps = int(sys.argv[4]) if len(sys.argv) == 5 else None
    res = run(sys.argv[1], _read(sys.argv[2]), _read(sys.argv[3]), max_steps=steps)
    print({k: res[k] for k in ("accuracy", "macro_f1", "train_s", "eval_s")})
