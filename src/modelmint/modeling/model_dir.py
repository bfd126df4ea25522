"""The model directory: what a trained model is on disk. Never pickle.

::

    model/
      config.json        kind, task, labels, base model, TrainConfig, dataset, metrics
      head.safetensors   tensors (a linear head's weight and bias, a CNN's weights, ...)
      <other files>      kind-specific, in open formats: LightGBM's model.txt, a CRF's
                         crfsuite model, a fine-tuned transformer in safetensors
      manifest.json      sha256 of every other file (verified on load)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from modelmint.errors import ConfigError, NotFound
from modelmint.modeling.base import Model

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
    out: Path,
    *,
    config: dict[str, Any],
    tensors: dict[str, np.ndarray] | None = None,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
) -> str:
    """Write config, tensors and manifest into `out` (other files the trainer wrote there are
    covered by the manifest too). Returns the directory's checksum."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    tensors = dict(tensors or {})
    if weight is not None:
        tensors["weight"] = weight
    if bias is not None:
        tensors["bias"] = bias
    if tensors:
        save_file(
            {k: np.ascontiguousarray(v) for k, v in tensors.items()},
            str(out / HEAD),
            metadata={"format": "modelmint-tensors-v1"},
        )
    config = {"kind": "linear-head", **config}
    (out / CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True))
    return write_manifest(out)


def write_manifest(out: Path) -> str:
    files = {
        str(p.relative_to(out)): _sha256(p)
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST
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


Loader = Callable[[Path, dict[str, Any], dict[str, np.ndarray]], Model]


def _loaders() -> dict[str, Loader]:
    # imported here so that a kind's heavy dependency (lightgbm, torch) loads only when used
    from modelmint.modeling import finetuned, onnx, retrieval, tabular, text, tokens, vision

    return {
        "linear-head": text.load_text_head,
        "lightgbm": tabular.load_tabular,
        "crf": tokens.load_crf,
        "cnn": vision.load_cnn,
        "transformer": finetuned.load_finetuned,
        "onnx": onnx.load_onnx,
        "retrieval": retrieval.load_retrieval,
    }


def load_model_dir(path: Path) -> Model:
    verify(path)
    config = json.loads((path / CONFIG).read_text())
    tensors = load_file(str(path / HEAD)) if (path / HEAD).is_file() else {}
    kind = config.get("kind", "linear-head")
    loader = _loaders().get(kind)
    if loader is None:
        raise ConfigError(
            f"model {path} is of kind '{kind}', which this version of ModelMint cannot load; "
            "upgrade ModelMint"
        )
    return loader(path, config, tensors)
