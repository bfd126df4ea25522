"""The model directory: what a trained model is on disk. Never pickle.

::

    model/
      config.json        task, labels, base model, max_tokens, TrainConfig, dataset, metrics
      head.safetensors   classification head: weight (k x d), bias (k,)
      manifest.json      sha256 of every other file (verified on load)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from modelmint.errors import ConfigError, NotFound
from modelmint.modeling.cache import EmbeddingCache, embed_with_cache
from modelmint.modeling.encoders import Encoder, get_encoder
from modelmint.types import Prediction

CONFIG = "config.json"
HEAD = "head.safetensors"
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model_dir(
    out: Path, *, weight: np.ndarray, bias: np.ndarray, config: dict[str, Any]
) -> str:
    """Write config, head and manifest into `out`. Returns the directory's checksum."""
    out.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "weight": np.ascontiguousarray(weight, np.float32),
            "bias": np.ascontiguousarray(bias, np.float32),
        },
        str(out / HEAD),
        metadata={"format": "modelmint-linear-head-v1"},
    )
    (out / CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True))
    return write_manifest(out)


def write_manifest(out: Path) -> str:
    files = {
        p.name: _sha256(p) for p in sorted(out.iterdir()) if p.is_file() and p.name != MANIFEST
    }
    (out / MANIFEST).write_text(json.dumps({"files": files}, indent=2, sort_keys=True))
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def verify(out: Path) -> str:
    """Check every file against the manifest; return the directory checksum."""
    if not (out / MANIFEST).is_file():
        raise NotFound(f"model directory {out} has no {MANIFEST}; the model is missing or corrupt")
    files = json.loads((out / MANIFEST).read_text())["files"]
    for name, digest in files.items():
        p = out / name
        if not p.is_file():
            raise ConfigError(f"model file {p} is missing; restore it or re-train the model")
        if _sha256(p) != digest:
            raise ConfigError(
                f"model file {p} does not match its checksum; it was changed or corrupted - "
                "restore it or re-train the model"
            )
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


@dataclass
class LoadedModel:
    """A model ready to predict: the shared encoder plus its own small head."""

    path: Path
    config: dict[str, Any]
    encoder: Encoder
    weight: np.ndarray
    bias: np.ndarray

    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])

    @property
    def max_tokens(self) -> int:
        return int(self.config["max_tokens"])

    def embed(
        self, texts: list[str], cache: EmbeddingCache | None = None, progress=None
    ) -> np.ndarray:
        return embed_with_cache(self.encoder, texts, self.max_tokens, cache, progress=progress)[0]

    def proba_from_embeddings(self, x: np.ndarray) -> np.ndarray:
        logits = x @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, texts: list[str], cache: EmbeddingCache | None = None) -> list[Prediction]:
        return self.predictions_from_proba(self.proba_from_embeddings(self.embed(texts, cache)))

    def predictions_from_proba(self, proba: np.ndarray) -> list[Prediction]:
        labels = self.labels
        out = []
        for row in proba:
            i = int(row.argmax())
            out.append(
                Prediction(
                    label=labels[i],
                    score=float(row[i]),
                    scores={lab: float(p) for lab, p in zip(labels, row, strict=True)},
                )
            )
        return out


def load_model_dir(path: Path) -> LoadedModel:
    verify(path)
    config = json.loads((path / CONFIG).read_text())
    tensors = load_file(str(path / HEAD))
    return LoadedModel(
        path=path,
        config=config,
        encoder=get_encoder(config["base_model"]),
        weight=tensors["weight"],
        bias=tensors["bias"],
    )
