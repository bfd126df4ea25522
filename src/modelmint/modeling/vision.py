"""Image classification: a small CNN trained from scratch (no pretrained vision backbone ships
offline in a PyPI package we can depend on). Weights in safetensors; images are decoded with
Pillow, converted to the training mode (L or RGB) and resized to the training side."""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import ConfigError, InvalidInput, PayloadTooLarge
from modelmint.modeling.base import Model, softmax
from modelmint.types import Example

MAX_IMAGE_BYTES = 5_000_000


def build_cnn(channels: int, n_classes: int, width: int = 32) -> Any:
    try:
        from torch import nn
    except ImportError as exc:
        raise ConfigError(
            "image models need PyTorch; install it with `pip install torch==2.13.0`"
        ) from exc
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(2 * width * 16, 128),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(128, n_classes),
    )


def to_array(data: bytes, mode: str, side: int) -> np.ndarray:
    """Image bytes -> (channels, side, side) float32 in [0, 1]."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert(mode).resize((side, side), Image.Resampling.BILINEAR)
        a = np.asarray(im, dtype=np.float32) / 255.0
    return a[None, :, :] if a.ndim == 2 else a.transpose(2, 0, 1)


class ImageModel(Model):
    kind = "cnn"

    def __init__(self, path: Path, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        super().__init__(path, config)
        import torch

        self.mode = config["image_mode"]
        self.side = int(config["image_side"])
        self.net = build_cnn(1 if self.mode == "L" else 3, len(self.labels), config["width"])
        self.net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
        self.net.eval()
        self._torch = torch
        self.image_root: Path | None = None  # set by evaluate to read stored examples

    def input_of(self, example: Example) -> Any:
        if self.image_root is None:
            raise ConfigError("the image folder of the dataset is not known")
        return (self.image_root / example.image).read_bytes()

    def parse_input(self, value: Any, i: int) -> Any:
        if not isinstance(value, str):
            raise InvalidInput(f"input {i} must be a base64-encoded image (PNG, JPEG, ...)")
        b64 = value.split(",", 1)[1] if value.startswith("data:") else value
        if len(b64) > MAX_IMAGE_BYTES * 4 // 3 + 4:
            raise PayloadTooLarge(
                f"input {i} is over {MAX_IMAGE_BYTES:,} bytes; send a smaller image"
            )
        try:
            data = base64.b64decode(b64, validate=True)
            to_array(data, self.mode, self.side)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                f"input {i} is not valid base64; encode the image file's bytes"
            ) from None
        except Exception:
            raise InvalidInput(
                f"input {i} is not an image Pillow can read; send PNG or JPEG"
            ) from None
        return data

    def log_text(self, value: Any) -> str:
        import hashlib

        return "image sha256:" + hashlib.sha256(value).hexdigest()

    def outputs(self, inputs: list[Any], cache: Any = None, progress: Any = None) -> Any:
        torch = self._torch
        if not inputs:
            return np.zeros((0, len(self.labels)))
        x = np.stack([to_array(d, self.mode, self.side) for d in inputs])
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(x)).numpy().astype(np.float64)
        return softmax(logits)

    def explain(self, value: Any, top_k: int = 8) -> list[dict[str, Any]]:
        """Occlusion on a 4x4 grid: how much the predicted class loses when a cell is grey."""
        x = to_array(value, self.mode, self.side)
        cell = max(1, self.side // 4)
        variants = [x]
        cells = []
        for r in range(0, self.side, cell):
            for c in range(0, self.side, cell):
                v = x.copy()
                v[:, r : r + cell, c : c + cell] = 0.5
                variants.append(v)
                cells.append((r, c))
        with self._torch.inference_mode():
            p = softmax(
                self.net(self._torch.from_numpy(np.stack(variants))).numpy().astype(np.float64)
            )
        k = int(p[0].argmax())
        deltas = p[0, k] - p[1:, k]
        ranked = sorted(range(len(cells)), key=lambda j: -abs(float(deltas[j])))[:top_k]
        return [
            {
                "feature": f"region rows {cells[j][0]}-{cells[j][0] + cell - 1}, cols "
                f"{cells[j][1]}-{cells[j][1] + cell - 1}",
                "weight": round(float(deltas[j]), 6),
            }
            for j in ranked
        ]


def load_cnn(path: Path, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Model:
    return ImageModel(path, config, tensors)
