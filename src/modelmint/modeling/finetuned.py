"""A fine-tuned transformer classifier (method lora, merged into the weights, or full), stored
with save_pretrained in safetensors under ``encoder/`` together with its tokenizer."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.modeling.base import Model, softmax
from modelmint.modeling.encoders import nfkc, quiet_transformers
from modelmint.modeling.text import occlusion, tokenizer_counts

ENCODER_DIR = "encoder"


class FineTunedModel(Model):
    kind = "transformer"

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        super().__init__(path, config)
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path / ENCODER_DIR))
        self.net = AutoModelForSequenceClassification.from_pretrained(str(path / ENCODER_DIR))
        self.net.eval()
        self._lock = threading.Lock()

    def outputs(self, inputs: list[Any], cache: Any = None, progress: Any = None) -> Any:
        torch = self._torch
        texts = list(inputs)
        out = []
        with self._lock, torch.inference_mode():
            for i in range(0, len(texts), 32):
                enc = self.tokenizer(
                    [nfkc(t) for t in texts[i : i + 32]],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                out.append(self.net(**enc).logits.float().numpy())
                if progress:
                    progress(min(i + 32, len(texts)), len(texts))
        logits = np.concatenate(out) if out else np.zeros((0, len(self.labels)))
        return softmax(logits.astype(np.float64) / float(self.config.get("temperature", 1.0)))

    def token_counts(self, inputs: list[Any]) -> list[int] | None:
        return tokenizer_counts(self.tokenizer, inputs)

    def explain(self, value: Any, top_k: int = 8) -> list[dict[str, Any]]:
        return occlusion(self, str(value), top_k)


def load_finetuned(path: Path, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Model:
    return FineTunedModel(path, config)
