"""Peer for B3: SetFit (contrastive fine-tuning of the sentence encoder on pairs, then a
logistic-regression head), on the same local all-MiniLM-L6-v2 directory.

Settings: SetFit's defaults (batch 16, one embedding epoch, pair sampling "oversampling",
body learning rate 2e-5, scikit-learn LogisticRegression head) with inputs truncated to 64
tokens and `max_steps` capping the contrastive phase so a CPU run fits the benchmark's time
budget (SetFit's own way to bound training: at most max_steps x 16 pairs are drawn). The cap
is reported with every result.

Used in-process by benchmarks/b3_transfer.py through `run()`, or on its own:
    python benchmarks/peers/setfit_peer.py MODEL_DIR train.csv test.csv [MAX_STEPS]
(CSV files with columns text,label).
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run(
    model_path: str,
    train: list[tuple[str, str]],
    test: list[tuple[str, str]],
    *,
    max_steps: int = 320,
    max_length: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Train SetFit on `train` (text, label) pairs and score `test`.

    Returns accuracy, macro F1, train_s (model load + contrastive phase + head fit), eval_s."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.metrics import accuracy_score, f1_score

    started = time.perf_counter()
    model = SetFitModel.from_pretrained(model_path)
    ds = Dataset.from_dict({"text": [t for t, _ in train], "label": [y for _, y in train]})
    with tempfile.TemporaryDirectory(prefix="b3-setfit-") as out_dir:
        args = TrainingArguments(
            output_dir=out_dir,
            batch_size=16,
            num_epochs=1,
            max_steps=max_steps,
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
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "train_s": train_s,
        "eval_s": eval_s,
        "details": {
            "max_steps": max_steps,
            "steps": steps,
            "pairs": steps * 16,
            "max_length": max_length,
            "batch_size": 16,
        },
    }


def _read(path: str) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    steps = int(sys.argv[4]) if len(sys.argv) == 5 else 320
    res = run(sys.argv[1], _read(sys.argv[2]), _read(sys.argv[3]), max_steps=steps)
    print({k: res[k] for k in ("accuracy", "macro_f1", "train_s", "eval_s")})
