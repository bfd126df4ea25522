"""Image classification: a small CNN from scratch, through the shared training loop."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import InvalidInput
from modelmint.modeling import save_model_dir
from modelmint.modeling.vision import build_cnn, to_array
from modelmint.train import loop
from modelmint.train.config import TrainConfig
from modelmint.train.head import Progress, split_examples
from modelmint.types import Example, TrainResult


def train_images(
    examples: list[Example],
    config: TrainConfig,
    out_dir: Path,
    *,
    image_root: Path,
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
    checkpoint: Path | None = None,
) -> TrainResult:
    import torch
    from PIL import Image

    started = time.perf_counter()
    loop.seed_everything(config.seed)
    train, val = split_examples(examples)
    labels = sorted({e.label for e in train})
    if len(labels) < 2:
        raise InvalidInput("the train split has fewer than two classes; add images of every class")
    sizes, modes = [], []
    for e in train[:500]:
        with Image.open(image_root / e.image) as im:
            sizes.append(min(im.size))
            modes.append("L" if im.mode in ("L", "1", "I", "I;16") else "RGB")
    mode = max(set(modes), key=modes.count)
    side = int(min(64, max(16, statistics.median(sizes))))

    def load(rows: list[Example]) -> np.ndarray:
        return np.stack([to_array((image_root / e.image).read_bytes(), mode, side) for e in rows])

    index = {lab: i for i, lab in enumerate(labels)}
    x_train = torch.from_numpy(load(train))
    y_train = torch.tensor([index[e.label] for e in train])
    val = [e for e in val if e.label in index]
    x_val = torch.from_numpy(load(val))
    y_val = torch.tensor([index[e.label] for e in val])
    width = 32
    net = build_cnn(1 if mode == "L" else 3, len(labels), width)
    bs = 64
    steps = (len(train) + bs - 1) // bs

    def batches(epoch: int):
        g = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        perm = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), bs):
            idx = perm[i : i + bs]
            xb = x_train[idx]
            # light augmentation: shift by up to 1 pixel
            dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=g))
            yield {"x": torch.roll(xb, shifts=(dy, dx), dims=(2, 3))}, y_train[idx]

    def evaluate() -> float:
        with torch.inference_mode():
            return float((net(x_val.to(loop.device())).argmax(1).cpu() == y_val).float().mean())

    state = loop.fit(
        net,
        batches=batches,
        steps_per_epoch=steps,
        evaluate=evaluate,
        forward=lambda n, inp: n(inp["x"]),
        config=config,
        lr=config.learning_rate or 2e-3,
        weight=loop.class_weights(y_train.numpy(), len(labels), config.class_weight),
        progress=progress,
        checkpoint=checkpoint,
        epochs=config.epochs_for(30),
    )
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    loop.plot_curve(
        state["curve"],
        "epoch",
        ["train_loss", "validation_score"],
        out_dir / "learning_curve.png",
        "CNN: loss and validation accuracy",
    )
    validation = {"accuracy": round(float(state["best"]), 6), "best_epoch": state["best_epoch"]}
    save_model_dir(
        out_dir,
        tensors={k: v.detach().numpy() for k, v in net.state_dict().items()},
        config={
            "format": "modelmint-model-v1",
            "kind": "cnn",
            "task": "image-classification",
            "labels": labels,
            "base_model": "cnn (from scratch)",
            "image_mode": mode,
            "image_side": side,
            "width": width,
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
