"""Peer for B3: a plain Hugging Face `Trainer` full fine-tune, written the way a user would
(the transformers text-classification tutorial: datasets + AutoTokenizer +
AutoModelForSequenceClassification + DataCollatorWithPadding + Trainer, evaluation and a
checkpoint every epoch, best checkpoint kept).

Settings: the usual fine-tuning recipe for BERT-style encoders (the BERT paper's grid is learning
rate 2e-5..5e-5, batch 16 or 32, warmup; the transformers tutorial uses batch 16 and weight
decay 0.01): learning rate 5e-5 with a linear warmup over the first 10% of steps and linear
decay, batch 16, weight decay 0.01, inputs truncated to 64 tokens like every B3 system. Three
epochs underfit a 77-class set of 1,800 rows (44% on banking77 in the first B3 run, validation
still rising), so the epoch budget is generous (20) and early stopping ends the run when
validation accuracy has not improved for 3 epochs; the best epoch is kept.

`converged` in the result says whether validation accuracy peaked before the last epoch that
ran, above the majority-class share; when it did not (still improving when the budget ended, or
never above chance), the peer may be underfit and the benchmark leaves the row out of its
verdicts.

Used in-process by benchmarks/b3_transfer.py through `run()`, or on its own:
    python benchmarks/peers/hf_trainer.py MODEL_DIR train.csv validation.csv test.csv
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
    validation: list[tuple[str, str]],
    test: list[tuple[str, str]],
    *,
    epochs: float = 20.0,
    learning_rate: float = 5e-5,
    warmup: float = 0.1,
    patience: int = 3,
    batch_size: int = 16,
    max_length: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Fine-tune on `train` (text, label) pairs, keep the best epoch on `validation`, score `test`.

    Returns accuracy, macro F1, train_s (model load + tokenize + Trainer.train), eval_s,
    validation_accuracy and details (epochs run, best epoch, converged)."""
    import numpy as np
    from datasets import Dataset
    from sklearn.metrics import accuracy_score, f1_score
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
    )

    started = time.perf_counter()
    labels = sorted({y for _, y in train})
    label2id = {lab: i for i, lab in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
    )

    def to_dataset(rows: list[tuple[str, str]]) -> Dataset:
        ds = Dataset.from_dict(
            {"text": [t for t, _ in rows], "label": [label2id.get(y, -1) for _, y in rows]}
        )
        return ds.map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=max_length),
            batched=True,
            remove_columns=["text"],
        )

    train_ds = to_dataset(train)
    val_ds = to_dataset([r for r in validation if r[1] in label2id])

    def compute_metrics(pred: Any) -> dict[str, float]:
        y_pred = pred.predictions.argmax(-1)
        return {
            "accuracy": float(accuracy_score(pred.label_ids, y_pred)),
            "macro_f1": float(f1_score(pred.label_ids, y_pred, average="macro")),
        }

    with tempfile.TemporaryDirectory(prefix="b3-hf-") as out_dir:
        args = TrainingArguments(
            output_dir=out_dir,
            learning_rate=learning_rate,
            per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=64,
            num_train_epochs=epochs,
            warmup_steps=warmup,  # a float < 1 is a ratio of the training steps
            lr_scheduler_type="linear",
            weight_decay=0.01,
            eval_strategy="epoch",
            save_strategy="epoch",
            load_best_model_at_end=True,
            metric_for_best_model="accuracy",
            save_total_limit=1,
            report_to="none",
            seed=seed,
            use_cpu=True,
            disable_tqdm=True,
            logging_strategy="epoch",
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=val_ds,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=compute_metrics,
            callbacks=[EarlyStoppingCallback(early_stopping_patience=patience)],
        )
        trainer.train()
        train_s = time.perf_counter() - started
        log = [
            {k: v for k, v in e.items() if k in ("epoch", "loss", "eval_accuracy", "eval_macro_f1")}
            for e in trainer.state.log_history
            if "eval_accuracy" in e or "loss" in e
        ]

        evals = [e for e in trainer.state.log_history if "eval_accuracy" in e]
        best = max(evals, key=lambda e: e["eval_accuracy"]) if evals else {}
        epochs_run = evals[-1]["epoch"] if evals else 0.0
        # validation peaked before the last epoch that ran (early stopping ended it, or the
        # budget ended on a plateau) above the majority-class share: otherwise it was still
        # improving, or never learnt anything (a flat curve at chance is no convergence)
        val_labels = [y for _, y in validation if y in label2id]
        chance = max(map(val_labels.count, set(val_labels))) / len(val_labels) if val_labels else 0
        converged = (
            bool(evals)
            and best.get("epoch", 0.0) < epochs_run
            and best.get("eval_accuracy", 0.0) > chance
        )
        out: dict[str, Any] = {
            "train_s": train_s,
            "validation_accuracy": float(best.get("eval_accuracy", 0.0)),
            "validation_macro_f1": float(best.get("eval_macro_f1", 0.0)),
            "details": {
                "max_epochs": epochs,
                "learning_rate": learning_rate,
                "warmup": warmup,
                "early_stopping_patience": patience,
                "batch_size": batch_size,
                "weight_decay": 0.01,
                "max_length": max_length,
                "steps": trainer.state.global_step,
                "epochs_run": epochs_run,
                "best_epoch": best.get("epoch"),
                "converged": converged,
                "validation_majority_share": round(chance, 4),
                "best_checkpoint_metric": trainer.state.best_metric,
                "log": log,
            },
        }
        t = time.perf_counter()
        pred = trainer.predict(to_dataset(test))
        y_pred = [labels[i] for i in np.asarray(pred.predictions).argmax(-1)]
        y_true = [y for _, y in test]
        out.update(
            accuracy=float(accuracy_score(y_true, y_pred)),
            macro_f1=float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            eval_s=time.perf_counter() - t,
        )
    return out


def _read(path: str) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    res = run(sys.argv[1], _read(sys.argv[2]), _read(sys.argv[3]), _read(sys.argv[4]))
    print({k: res[k] for k in ("accuracy", "macro_f1", "train_s", "eval_s")})
