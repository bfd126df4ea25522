"""Fine-tuning a transformers encoder for text classification: LoRA adapters through peft
(merged into the weights when training ends, so serving runs one plain model) or full
fine-tuning, through the shared training loop.

LoRA puts adapters on every linear layer of the encoder (peft's ``all-linear``: for BERT-style
encoders query, key, value, the attention output, both feed-forward layers and the pooler) and
can start from a linear probe (``lora_head_init="probe"``): the output layer is first fitted as
a logistic regression on the frozen encoder's features, then adapters and head train together
(LP-FT, Kumar et al. 2022)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import ConfigError, InvalidInput
from modelmint.modeling import save_model_dir
from modelmint.modeling.encoders import hf_path, nfkc, quiet_transformers
from modelmint.modeling.finetuned import ENCODER_DIR
from modelmint.train import loop
from modelmint.train.config import (
    FULL_EPOCHS,
    FULL_LEARNING_RATE,
    HEAD_LEARNING_RATE,
    LORA_EPOCHS,
    LORA_LEARNING_RATE,
    TrainConfig,
)
from modelmint.train.head import Progress, fit_temperature, split_examples
from modelmint.types import Example, TrainResult

logger = logging.getLogger(__name__)


def output_layer(net: Any, n_labels: int) -> Any:
    """The layer that produces the logits: the last ``torch.nn.Linear`` with one output per
    class (``classifier`` in BERT, ``classifier.out_proj`` in RoBERTa)."""
    import torch

    found = None
    for module in net.modules():
        if isinstance(module, torch.nn.Linear) and module.out_features == n_labels:
            found = module
    if found is None:
        raise ConfigError(
            "cannot find the model's output layer for --method lora's linear probe; train with "
            "lora_head_init='random'"
        )
    return found


def fit_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_labels: int,
    config: TrainConfig,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Logistic regression on frozen features, one C per ``config.c_values``, the best on
    validation macro F1 kept. Returns (weight (k, d), bias (k,), metrics)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    best: tuple[float, float, Any] | None = None
    for c in config.c_values:
        clf = LogisticRegression(
            C=c,
            max_iter=config.max_iter,
            class_weight="balanced" if config.class_weight == "balanced" else None,
            random_state=config.seed,
        ).fit(x_train, y_train)
        f1 = float(f1_score(y_val, clf.predict(x_val), average="macro", zero_division=0))
        if best is None or f1 > best[0]:
            best = (f1, c, clf)
    assert best is not None
    f1, c, clf = best
    weight = np.zeros((n_labels, x_train.shape[1]))
    bias = np.zeros(n_labels)
    if len(clf.classes_) == 2:  # sklearn's binary model is one row: two logits, +/- half
        weight[clf.classes_] = np.vstack([-clf.coef_[0] / 2, clf.coef_[0] / 2])
        bias[clf.classes_] = [-clf.intercept_[0] / 2, clf.intercept_[0] / 2]
    else:
        weight[clf.classes_] = clf.coef_
        bias[clf.classes_] = clf.intercept_
    acc = float((clf.predict(x_val) == y_val).mean())
    return (
        weight,
        bias,
        {"probe_C": c, "probe_accuracy": round(acc, 6), "probe_macro_f1": round(f1, 6)},
    )


def finetune_text(
    examples: list[Example],
    config: TrainConfig,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
    checkpoint: Path | None = None,
) -> TrainResult:
    try:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError as exc:
        raise ConfigError(
            "--method lora/full needs PyTorch and transformers; `pip install 'modelmint[demo]' "
            "torch==2.13.0`"
        ) from exc
    quiet_transformers()
    started = time.perf_counter()
    loop.seed_everything(config.seed)
    train, val = split_examples(examples)
    labels = sorted({e.label for e in train})
    if len(labels) < 2:
        raise InvalidInput(
            "the train split has fewer than two classes; add examples of every class"
        )
    index = {lab: i for i, lab in enumerate(labels)}
    val = [e for e in val if e.label in index]
    path = hf_path(config.base_model)
    try:
        tok = AutoTokenizer.from_pretrained(path)
        net = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id=index,
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot load base model '{config.base_model}' for fine-tuning: {exc}. Use "
            "all-MiniLM-L6-v2 or a local transformers model directory"
        ) from exc

    def encode(rows: list[Example]) -> dict[str, Any]:
        return tok(
            [nfkc(e.text) for e in rows],
            padding="max_length",
            truncation=True,
            max_length=config.max_tokens,
            return_tensors="pt",
        )

    enc_train = encode(train)
    y_train = torch.tensor([index[e.label] for e in train])
    enc_val = encode(val)
    y_val = np.array([index[e.label] for e in val])
    bs = config.batch_size
    steps = (len(train) + bs - 1) // bs

    def trim(d: dict[str, Any]) -> dict[str, Any]:
        n = int(d["attention_mask"].sum(1).max())
        return {k: v[:, :n] for k, v in d.items()}

    lengths = enc_train["attention_mask"].sum(1)

    def batches(epoch: int):
        """Random batches of similar length: shuffle, sort by length inside windows of 50
        batches, then shuffle the batches (padding is what a CPU pays for)."""
        g = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        perm = torch.randperm(len(train), generator=g)
        window = bs * 50
        chunks = []
        for w in range(0, len(perm), window):
            part = perm[w : w + window]
            part = part[torch.argsort(lengths[part], stable=True)]
            chunks += [part[i : i + bs] for i in range(0, len(part), bs)]
        for j in torch.randperm(len(chunks), generator=g).tolist():
            idx = chunks[j]
            yield trim({k: v[idx] for k, v in enc_train.items()}), y_train[idx]

    def val_logits() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(val), 64):
                b = trim({k: v[i : i + 64].to(loop.device()) for k, v in enc_val.items()})
                out.append(net(**b).logits.float().cpu().numpy())
        return np.concatenate(out)

    def evaluate() -> float:
        from sklearn.metrics import f1_score

        return float(f1_score(y_val, val_logits().argmax(1), average="macro", zero_division=0))

    def features(enc: dict[str, Any]) -> np.ndarray:
        """What the output layer sees (its input) for every row, the weights as they are; rows
        go through in order of length (less padding) and come back in their own order."""
        layer = output_layer(net, len(labels))
        seen: list[np.ndarray] = []
        hook = layer.register_forward_hook(
            lambda _m, inp, _out: seen.append(inp[0].detach().float().cpu().numpy())
        )
        order = torch.argsort(enc["attention_mask"].sum(1), stable=True)
        dev = loop.device()
        try:
            net.to(dev).eval()
            with torch.inference_mode():
                for i in range(0, len(order), 64):
                    idx = order[i : i + 64]
                    net(**trim({k: v[idx].to(dev) for k, v in enc.items()}))
        finally:
            hook.remove()
        feats = np.concatenate(seen)
        out = np.empty_like(feats)
        out[order.numpy()] = feats
        return out

    probe: dict[str, Any] = {}
    trainable = None
    if config.method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        if config.lora_head_init == "probe":
            t = time.perf_counter()
            if progress:
                progress("linear probe", 0, 1)
            weight, bias, probe = fit_probe(
                features(enc_train),
                y_train.numpy(),
                features(enc_val),
                y_val,
                len(labels),
                config,
            )
            layer = output_layer(net, len(labels))
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(weight).to(layer.weight.dtype))
                layer.bias.copy_(torch.from_numpy(bias).to(layer.bias.dtype))
            probe["probe_seconds"] = round(time.perf_counter() - t, 2)
            logger.info("linear probe: validation macro F1 %.4f", probe["probe_macro_f1"])
        net = get_peft_model(
            net,
            LoraConfig(
                task_type=TaskType.SEQ_CLS,
                r=config.lora_r,
                lora_alpha=2 * config.lora_r,
                lora_dropout=0.1,
                target_modules="all-linear",
            ),
        )
        trainable = [p for p in net.parameters() if p.requires_grad]

    lora = config.method == "lora"
    state = loop.fit(
        net,
        batches=batches,
        steps_per_epoch=steps,
        evaluate=evaluate,
        forward=lambda n, inp: n(**inp).logits,
        config=config,
        lr=config.learning_rate or (LORA_LEARNING_RATE if lora else FULL_LEARNING_RATE),
        weight=loop.class_weights(y_train.numpy(), len(labels), config.class_weight),
        progress=progress,
        checkpoint=checkpoint,
        trainable=trainable,
        head_params=[p for n, p in net.named_parameters() if "classifier" in n and p.requires_grad],
        head_lr=HEAD_LEARNING_RATE,
        epochs=config.epochs_for(LORA_EPOCHS if lora else FULL_EPOCHS),
    )
    logits = val_logits()
    temperature, nll_before, nll_after = fit_temperature(logits, y_val)
    acc = float((logits.argmax(1) == y_val).mean())
    if config.method == "lora":
        net = net.merge_and_unload()
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    net.save_pretrained(str(out_dir / ENCODER_DIR), safe_serialization=True)
    tok.save_pretrained(str(out_dir / ENCODER_DIR))
    loop.plot_curve(
        state["curve"],
        "epoch",
        ["train_loss", "validation_score"],
        out_dir / "learning_curve.png",
        f"{config.method}: loss and validation macro F1",
    )
    validation = {
        "accuracy": round(acc, 6),
        "macro_f1": round(float(state["best"]), 6),
        "best_epoch": state["best_epoch"],
        "temperature": round(temperature, 4),
        "nll_before_calibration": round(nll_before, 4),
        "nll_after_calibration": round(nll_after, 4),
        **probe,
    }
    save_model_dir(
        out_dir,
        config={
            "format": "modelmint-model-v1",
            "kind": "transformer",
            "task": "text-classification",
            "labels": labels,
            "base_model": config.base_model,
            "max_tokens": config.max_tokens,
            "temperature": temperature,
            "train_config": config.to_dict(),
            "validation": validation,
            "learning_curve": state["curve"],
            "resumed": state["resumed"],
            "world_size": state["world_size"],
            "n_train": len(train),
            "n_validation": len(val),
            **(metadata or {}),
        },
    )
    return TrainResult(
        model_dir=out_dir,
        labels=tuple(labels),
        n_train=len(train),
        n_validation=len(val),
        validation_metrics=validation,
        seconds=time.perf_counter() - started,
        embed_cache_hits=0,
        embed_cache_misses=0,
    )
