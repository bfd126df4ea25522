"""Differentially private training of the classification head with Opacus (DP-SGD: per-example
gradient clipping plus Gaussian noise, privacy accounted with RDP).

What is protected: the training examples, through everything learned from them - the head. The
pretrained encoder never sees the data in training (it is frozen), so it leaks nothing about
it. The validation split only picks the temperature, which the accounting does not cover; it is
stated in the saved privacy record."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelmint.errors import ConfigError, InvalidInput, TrainingDiverged
from modelmint.train.config import TrainConfig


def fit_dp_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    k: int,
    config: TrainConfig,
    progress: Any = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[dict[str, Any]]]:
    """Returns (weight, bias, privacy record, learning curve)."""
    try:
        import torch
        from opacus import PrivacyEngine
    except ImportError as exc:
        raise ConfigError(
            "--dp-epsilon needs Opacus and PyTorch; `pip install opacus torch==2.13.0`"
        ) from exc
    n = len(y_train)
    if n < 50:
        raise InvalidInput(f"differential privacy needs more training rows than {n}; add data")
    torch.manual_seed(config.seed)
    epsilon = float(config.dp_epsilon or 0)
    delta = 1.0 / (10 * n)  # well below 1/n, the usual requirement
    epochs = config.epochs_for(30)
    x = torch.tensor(x_train, dtype=torch.float32)
    y = torch.tensor(y_train, dtype=torch.long)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y),
        batch_size=min(256, n),
        generator=torch.Generator().manual_seed(config.seed),
    )
    head = torch.nn.Linear(x.shape[1], k)
    opt = torch.optim.Adam(head.parameters(), lr=config.learning_rate or 0.02)
    engine = PrivacyEngine(accountant="rdp", secure_mode=False)
    head, opt, loader = engine.make_private_with_epsilon(
        module=head,
        optimizer=opt,
        data_loader=loader,
        target_epsilon=epsilon,
        target_delta=delta,
        epochs=epochs,
        max_grad_norm=1.0,
    )
    counts = np.bincount(y_train, minlength=k).astype(np.float64)
    weight = (
        torch.tensor(n / (k * np.maximum(counts, 1)), dtype=torch.float32)
        if config.class_weight == "balanced"
        else None
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    xv = torch.tensor(x_val, dtype=torch.float32)
    curve = []
    for epoch in range(epochs):
        head.train()
        losses = []
        for xb, yb in loader:
            if len(yb) == 0:  # Poisson sampling can draw an empty batch
                continue
            opt.zero_grad()
            loss = loss_fn(head(xb), yb)
            if not torch.isfinite(loss):
                raise TrainingDiverged("the loss became NaN under DP-SGD; lower --learning-rate")
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
        head.eval()
        with torch.inference_mode():
            keep = y_val >= 0
            acc = (
                float((head(xv).argmax(1).numpy()[keep] == y_val[keep]).mean())
                if keep.any()
                else 0.0
            )
        curve.append(
            {
                "epoch": epoch + 1,
                "train_loss": round(float(np.mean(losses or [0])), 6),
                "validation_score": round(acc, 6),
            }
        )
        if progress:
            progress("DP-SGD epochs", epoch + 1, epochs)
    module = head._module if hasattr(head, "_module") else head
    w = module.weight.detach().numpy().astype(np.float64)
    b = module.bias.detach().numpy().astype(np.float64)
    spent = float(engine.get_epsilon(delta))
    privacy = {
        "mechanism": "DP-SGD (Opacus), RDP accountant",
        "epsilon": round(spent, 4),
        "target_epsilon": epsilon,
        "delta": delta,
        "max_grad_norm": 1.0,
        "epochs": epochs,
        "protects": "the training split, through the trained head (the encoder is frozen)",
        "not_covered": "the validation split, used only for temperature calibration",
    }
    return w, b, privacy, curve
