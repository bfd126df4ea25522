"""One training loop for every network (the image CNN, LoRA and full fine-tuning): AdamW,
class-weighted cross-entropy, early stopping on a validation score, NaN detection, a seed for
everything, progress per step, a learning curve, and resume from the last finished epoch.

Resume: after each epoch the weights (safetensors) and the loop state (JSON) go to the
checkpoint folder; a run with the same data and TrainConfig that finds them continues from the
next epoch. The optimiser's moments are not kept (AdamW warms up again), which is why a
resumed run can differ slightly from an uninterrupted one."""

from __future__ import annotations

import json
import logging
import math
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import TrainingDiverged
from modelmint.train.config import TrainConfig

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
Batch = tuple[dict[str, Any], Any]  # (model inputs, labels tensor)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch. Deterministic algorithms are switched on inside `fit`
    only, and switched back afterwards."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def world() -> tuple[int, int]:
    """(rank, world size) when launched by torchrun / ``accelerate launch``, else (0, 1)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return world()[0] == 0


def device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


def _distributed(net: Any) -> Any:
    """Join the process group (gloo on CPU, nccl on GPU) and wrap `net` in DDP."""
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    dev = device()
    ids = [torch.device(dev).index] if dev.startswith("cuda") else None
    return torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)


def class_weights(y: np.ndarray, k: int, mode: str) -> Any:
    import torch

    if mode != "balanced":
        return None
    counts = np.bincount(y, minlength=k).astype(np.float64)
    w = len(y) / (k * np.maximum(counts, 1))
    return torch.tensor(w, dtype=torch.float32)


@contextmanager
def _deterministic(torch: Any) -> Iterator[None]:
    """Deterministic algorithms while training, and the caller's setting back afterwards."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def fit(
    net: Any,
    *,
    batches: Callable[[int], Iterator[Batch]],
    steps_per_epoch: int,
    evaluate: Callable[[], float],
    forward: Callable[[Any, dict[str, Any]], Any],
    config: TrainConfig,
    lr: float,
    weight: Any = None,
    progress: Progress | None = None,
    checkpoint: Path | None = None,
    trainable: list[Any] | None = None,
    head_params: list[Any] | None = None,
    head_lr: float | None = None,
    epochs: int,
) -> dict[str, Any]:
    """Train `net` in place and leave it with its best validation weights.

    ``batches(epoch)`` yields (inputs, labels); ``forward(net, inputs)`` returns logits;
    ``evaluate()`` returns the validation score (higher is better). Returns the loop state:
    epochs run, best score and epoch, the learning curve, whether it resumed."""
    import torch
    from safetensors.torch import load_file, save_file

    with _deterministic(torch):
        dev = device()
        net.to(dev)
        rank, world_size = world()
        inner = net
        if world_size > 1:  # every rank takes its share of each batch; DDP averages the gradients
            net = _distributed(net)
        params = (
            trainable if trainable is not None else [p for p in net.parameters() if p.requires_grad]
        )
        # a freshly initialised output layer learns at head_lr (much faster than the pretrained
        # body): with many classes the body's small rate alone leaves the classifier underfit
        head = {id(p) for p in head_params or []}
        groups = [{"params": [p for p in params if id(p) not in head], "lr": lr}]
        if head:
            groups.append({"params": [p for p in params if id(p) in head], "lr": head_lr or lr})
        opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0.01)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight.to(dev) if weight is not None else None)
        state: dict[str, Any] = {"epoch": 0, "best": None, "best_epoch": 0, "bad": 0, "curve": []}
        best_weights: dict[str, Any] | None = None
        resumed = False
        if checkpoint is not None and (checkpoint / "loop.json").is_file():
            state = json.loads((checkpoint / "loop.json").read_text())
            inner.load_state_dict(load_file(str(checkpoint / "last.safetensors")), strict=False)
            if (checkpoint / "best.safetensors").is_file():
                best_weights = load_file(str(checkpoint / "best.safetensors"))
            resumed = True
            logger.info("resuming at epoch %d from %s", state["epoch"] + 1, checkpoint)
        total = steps_per_epoch * epochs
        for epoch in range(state["epoch"], epochs):
            if state["bad"] >= config.patience:
                break
            net.train()
            losses = []
            for step, (inputs, y) in enumerate(batches(epoch)):
                if world_size > 1:
                    inputs = {k: v[rank::world_size] for k, v in inputs.items()}
                    y = y[rank::world_size]
                inputs = {k: v.to(dev) if hasattr(v, "to") else v for k, v in inputs.items()}
                loss = loss_fn(forward(net, inputs), y.to(dev))
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"the training loss became {loss.item()} in epoch {epoch + 1}; lower "
                        "--learning-rate (nothing was registered)"
                    )
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                losses.append(float(loss.item()))
                if progress:
                    progress(
                        f"epoch {epoch + 1}/{epochs}", epoch * steps_per_epoch + step + 1, total
                    )
            net.eval()
            score = float(evaluate()) if rank == 0 else 0.0
            if world_size > 1:  # rank 0 decides, so every rank stops at the same epoch
                import torch.distributed as dist

                shared = torch.tensor([score], dtype=torch.float64)
                dist.broadcast(shared, src=0)
                score = float(shared.item())
            if not math.isfinite(score):
                raise TrainingDiverged(
                    f"the validation score became {score}; lower --learning-rate"
                )
            state["curve"].append(
                {
                    "epoch": epoch + 1,
                    "train_loss": round(float(np.mean(losses)) if losses else 0.0, 6),
                    "validation_score": round(score, 6),
                }
            )
            state["epoch"] = epoch + 1
            if state["best"] is None or score > state["best"]:
                state.update(best=score, best_epoch=epoch + 1, bad=0)
                best_weights = {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}
                if checkpoint is not None and rank == 0:
                    checkpoint.mkdir(mode=0o700, parents=True, exist_ok=True)
                    save_file(_contiguous(best_weights), str(checkpoint / "best.safetensors"))
            else:
                state["bad"] += 1
            if checkpoint is not None and rank == 0:
                checkpoint.mkdir(mode=0o700, parents=True, exist_ok=True)
                save_file(_contiguous(inner.state_dict()), str(checkpoint / "last.safetensors"))
                (checkpoint / "loop.json").write_text(json.dumps(state))
            logger.info("epoch %d: validation %.4f", epoch + 1, score)
        if world_size > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
        if best_weights is not None:
            inner.load_state_dict(best_weights, strict=False)
        inner.to("cpu").eval()
        return {**state, "resumed": resumed, "world_size": world_size}


def _contiguous(sd: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu().contiguous() for k, v in sd.items()}


def plot_curve(curve: list[dict[str, Any]], x: str, ys: list[str], out: Path, title: str) -> None:
    """The learning curve as a PNG (matplotlib, Agg)."""
    if not curve:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for y in ys:
        pts = [(r[x], r[y]) for r in curve if y in r]
        if pts:
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                marker="o" if len(pts) < 30 else None,
                label=y.replace("_", " "),
            )
    ax.set_xlabel(x)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
