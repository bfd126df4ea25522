"""A text classifier served by ONNX Runtime: the tokenizer plus one graph from token ids to
logits (encoder, pooling and head fused), fp32 or dynamically quantized to int8."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import ConfigError
from modelmint.modeling.base import Model, softmax
from modelmint.modeling.encoders import nfkc, ort_session, quiet_transformers, runtime_threads
from modelmint.modeling.text import occlusion, tokenizer_counts

GRAPH = "model.onnx"
TOKENIZER_DIR = "tokenizer"


def session(path: Path, threads: int | None = None) -> Any:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ConfigError("ONNX models need onnxruntime; `pip install onnxruntime`") from exc
    return ort_session(path, threads or runtime_threads() or min(4, os.cpu_count() or 1))


class OnnxTextModel(Model):
    kind = "onnx"

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        super().__init__(path, config)
        from transformers import AutoTokenizer

        quiet_transformers()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path / TOKENIZER_DIR))
        self.session = session(path / GRAPH)
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._lock = threading.Lock()

    def outputs(self, inputs: list[Any], cache: Any = None, progress: Any = None) -> Any:
        texts = [nfkc(t) for t in inputs]
        out = []
        for i in range(0, len(texts), 32):
            enc = self.tokenizer(
                texts[i : i + 32],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="np",
            )
            feed = {k: v.astype(np.int64) for k, v in enc.items() if k in self._inputs}
            out.append(self.session.run(["logits"], feed)[0])
            if progress:
                progress(min(i + 32, len(texts)), len(texts))
        logits = np.concatenate(out) if out else np.zeros((0, len(self.labels)))
        return softmax(logits.astype(np.float64) / float(self.config.get("temperature", 1.0)))

    def token_counts(self, inputs: list[Any]) -> list[int] | None:
        return tokenizer_counts(self.tokenizer, inputs)

    def explain(self, value: Any, top_k: int = 8) -> list[dict[str, Any]]:
        return occlusion(self, str(value), top_k)


def load_onnx(path: Path, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Model:
    return OnnxTextModel(path, config)
