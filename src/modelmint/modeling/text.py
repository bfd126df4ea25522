"""Text models on a shared frozen encoder: a linear head over the pooled embedding.

One kind serves three tasks: softmax for text classification, per-label sigmoids with tuned
thresholds for multi-label, and a linear value (de-standardised) for text regression."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.modeling.base import REGRESSION, Model, softmax
from modelmint.modeling.cache import EmbeddingCache, embed_with_cache
from modelmint.modeling.encoders import Encoder, get_encoder, nfkc

# occlusion units: Latin words/numbers, CJK in pairs of characters, single other symbols
_SEGMENT = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]{1,2}|[^\W_]+|[^\w\s]", re.UNICODE)
MAX_SEGMENTS = 48


class TextHeadModel(Model):
    kind = "linear-head"

    def __init__(
        self,
        path: Path,
        config: dict[str, Any],
        encoder: Encoder,
        weight: np.ndarray,
        bias: np.ndarray,
    ) -> None:
        super().__init__(path, config)
        self.encoder = encoder
        self.weight = weight
        self.bias = bias

    def embed(
        self, texts: list[str], cache: EmbeddingCache | None = None, progress=None
    ) -> np.ndarray:
        return embed_with_cache(self.encoder, texts, self.max_tokens, cache, progress=progress)[0]

    def from_embeddings(self, x: np.ndarray) -> np.ndarray:
        logits = x @ self.weight.T + self.bias
        if self.task == "multi-label":
            return 1.0 / (1.0 + np.exp(-logits))
        if self.task in REGRESSION:
            return logits[:, 0] * float(self.config.get("target_std", 1.0)) + float(
                self.config.get("target_mean", 0.0)
            )
        return softmax(logits)

    # kept for callers that think in probabilities
    proba_from_embeddings = from_embeddings

    def outputs(self, inputs: list[Any], cache: Any = None, progress: Any = None) -> Any:
        return self.from_embeddings(self.embed(list(inputs), cache, progress=progress))

    def token_counts(self, inputs: list[Any]) -> list[int] | None:
        return self.encoder.token_counts([str(x) for x in inputs])

    def explain(self, value: Any, top_k: int = 8) -> list[dict[str, Any]]:
        return occlusion(self, str(value), top_k)


def tokenizer_counts(tokenizer: Any, inputs: list[Any]) -> list[int]:
    """Tokens per text (special tokens included) for a transformers tokenizer."""
    return [len(ids) for ids in tokenizer([nfkc(str(x)) for x in inputs])["input_ids"]]


def occlusion(model: Model, text: str, top_k: int = 8) -> list[dict[str, Any]]:
    """Drop one word (or CJK character pair) at a time and measure how much the predicted
    output falls. One batch of at most 49 texts."""
    spans = [m.span() for m in _SEGMENT.finditer(text)][:MAX_SEGMENTS]
    out = model.outputs([text] + [text[:a] + " " + text[b:] for a, b in spans])
    if model.task in REGRESSION:
        deltas = out[0] - out[1:]
    else:
        k = int(np.argmax(out[0]))
        deltas = out[0, k] - out[1:, k]
    ranked = sorted(range(len(spans)), key=lambda j: -abs(float(deltas[j])))[:top_k]
    return [
        {"feature": text[spans[j][0] : spans[j][1]], "weight": round(float(deltas[j]), 6)}
        for j in ranked
    ]


def load_text_head(path: Path, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Model:
    return TextHeadModel(
        path, config, get_encoder(config["base_model"]), tensors["weight"], tensors["bias"]
    )
