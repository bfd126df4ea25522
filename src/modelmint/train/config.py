"""TrainConfig: every training hyperparameter, saved with the model. Not a setting."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from modelmint.errors import InvalidInput
from modelmint.modeling.encoders import DEFAULT_ENCODER, canonical_name


@dataclass(frozen=True)
class TrainConfig:
    base_model: str = DEFAULT_ENCODER
    """Pretrained encoder: multilingual-e5-small (default, ~100 languages incl. Chinese),
    all-MiniLM-L6-v2 (English), or a transformers model directory / hub id."""

    method: Literal["head"] = "head"
    """How the encoder is adapted. ``head``: frozen encoder, cached embeddings, trained
    classification head (logistic regression)."""

    max_tokens: int = 128
    """Inputs are truncated to this many tokens (special tokens included), in training and
    serving alike."""

    c_values: tuple[float, ...] = (0.25, 1.0, 4.0, 16.0)
    """Inverse L2 strengths tried for the head; the best on the validation split is kept."""

    class_weight: Literal["balanced", "none"] = "balanced"
    """``balanced`` weighs classes inversely to their frequency (for imbalanced data)."""

    max_iter: int = 2000
    """Most optimiser iterations for the head."""

    seed: int = 0
    """Random seed; the same data, config and seed give the same model."""

    batch_size: int = 32
    """Texts per encoder call when embedding."""

    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes saved with the model (e.g. where the training data came from)."""

    def __post_init__(self) -> None:
        if self.method != "head":
            raise InvalidInput(f"--method {self.method} is not available; use --method head")
        if not 8 <= self.max_tokens <= 512:
            raise InvalidInput(f"max_tokens {self.max_tokens} is out of range; use 8..512")
        if not self.c_values or any(c <= 0 for c in self.c_values):
            raise InvalidInput("c_values must be positive numbers, e.g. 0.25,1,4")
        object.__setattr__(self, "base_model", canonical_name(self.base_model))
        object.__setattr__(self, "c_values", tuple(float(c) for c in self.c_values))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["c_values"] = list(self.c_values)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "c_values" in kw:
            kw["c_values"] = tuple(kw["c_values"])
        return cls(**kw)
