"""What every loaded model offers, whatever its kind (text head, LightGBM, CRF, CNN, fine-tuned
transformer): parse a served input, predict a batch, explain one input, and give the evaluate
stage the raw outputs it scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import InvalidInput
from modelmint.types import Example, Prediction

CLASSIFICATION = ("text-classification", "tabular-classification", "image-classification")
REGRESSION = ("text-regression", "tabular-regression")


class Model:
    """A trained model loaded from its directory. Subclasses set ``kind`` and implement
    ``outputs`` (and ``explain`` where it means something)."""

    kind = "?"

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.config = config

    # --- what the model is -------------------------------------------------------------
    @property
    def task(self) -> str:
        return str(self.config.get("task", "text-classification"))

    @property
    def labels(self) -> list[str]:
        return list(self.config.get("labels", []))

    @property
    def base_model(self) -> str:
        return str(self.config.get("base_model", ""))

    @property
    def max_tokens(self) -> int:
        return int(self.config.get("max_tokens", 128))

    # --- inputs ------------------------------------------------------------------------
    def input_of(self, example: Example) -> Any:
        """The served input that corresponds to a stored example."""
        return example.text

    def parse_input(self, value: Any, i: int) -> Any:
        """Check one served input; return it in canonical form or raise InvalidInput."""
        if not isinstance(value, str):
            raise InvalidInput(
                f"input {i} is {type(value).__name__}; scenario task {self.task} takes texts"
            )
        return value

    def log_text(self, value: Any) -> str:
        """What the prediction log keeps of an input (before PII redaction)."""
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    # --- outputs -----------------------------------------------------------------------
    def outputs(self, inputs: list[Any], cache: Any = None, progress: Any = None) -> Any:
        """Raw outputs for a batch: class probabilities (n, k) for classification, label
        probabilities (n, k) for multi-label, values (n,) for regression, tag lists for tokens."""
        raise NotImplementedError

    def to_predictions(self, outputs: Any, inputs: list[Any] | None = None) -> list[Prediction]:
        if self.task in REGRESSION:
            return [
                Prediction(label=f"{v:.6g}", score=1.0, scores={}, value=float(v)) for v in outputs
            ]
        if self.task == "multi-label":
            thresholds = self.config.get("thresholds") or [0.5] * len(self.labels)
            out = []
            for row in outputs:
                on = tuple(
                    lab for lab, p, t in zip(self.labels, row, thresholds, strict=True) if p >= t
                )
                i = int(np.argmax(row))
                out.append(
                    Prediction(
                        label=",".join(on),
                        score=float(row[i]),
                        scores={lab: float(p) for lab, p in zip(self.labels, row, strict=True)},
                        labels=on,
                    )
                )
            return out
        return probabilities_to_predictions(self.labels, outputs)

    def token_counts(self, inputs: list[Any]) -> list[int] | None:
        """Tokens per text input before truncation (to report truncation); None where the
        model does not tokenise."""
        return None

    def predict(self, inputs: list[Any], cache: Any = None) -> list[Prediction]:
        return self.to_predictions(self.outputs(inputs, cache), inputs)

    def explain(self, value: Any, top_k: int = 8) -> list[dict[str, Any]]:
        """The input tokens or features that pushed the prediction most, strongest first:
        ``[{"feature": ..., "weight": ...}]`` (weight > 0 supports the predicted output)."""
        raise InvalidInput(f"explanations are not available for {self.kind} models")


def probabilities_to_predictions(labels: list[str], proba: np.ndarray) -> list[Prediction]:
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


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
