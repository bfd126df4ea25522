"""TrainConfig: every training hyperparameter, saved with the model. Not a setting."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from modelmint.errors import InvalidInput
from modelmint.modeling.encoders import DEFAULT_ENCODER, canonical_name

# Method defaults that TrainConfig's 0 stands for. LoRA's were chosen on validation data
# (banking77, 77 classes: benchmarks/lora_defaults.py, docs/design.md "LoRA defaults").
LORA_LEARNING_RATE = 1e-3
LORA_EPOCHS = 5
FULL_LEARNING_RATE = 5e-5
FULL_EPOCHS = 3
HEAD_LEARNING_RATE = 2e-3
"""Step size of the freshly initialised output layer when fine-tuning (lora, full)."""


@dataclass(frozen=True)
class TrainConfig:
    base_model: str = DEFAULT_ENCODER
    """Pretrained encoder: multilingual-e5-small (default, ~100 languages incl. Chinese),
    all-MiniLM-L6-v2 (English), or a transformers model directory / hub id."""

    method: Literal["head", "lora", "full"] = "head"
    """How a pretrained encoder is adapted (text tasks). ``head``: frozen encoder, cached
    embeddings, trained head (the fast default). ``lora``: LoRA adapters through peft.
    ``full``: every weight fine-tuned. lora and full need a transformers encoder
    (all-MiniLM-L6-v2 or a model directory), not the 4-bit multilingual-e5-small."""

    max_tokens: int = 128
    """Inputs are truncated to this many tokens (special tokens included), in training and
    serving alike."""

    c_values: tuple[float, ...] = (0.25, 1.0, 4.0, 16.0, 64.0)
    """Inverse L2 strengths tried for the head; the best on the validation split is kept."""

    class_weight: Literal["balanced", "none"] = "balanced"
    """``balanced`` weighs classes inversely to their frequency (for imbalanced data)."""

    max_iter: int = 2000
    """Most optimiser iterations for the head."""

    seed: int = 0
    """Random seed; the same data, config and seed give the same model."""

    batch_size: int = 32
    """Texts per encoder call when embedding."""

    epochs: int = 0
    """Most passes over the train split; early stopping may end sooner. 0 picks the method's
    default (lora 5, full 3, the image CNN 30)."""

    learning_rate: float = 0.0
    """Optimiser step size; 0 picks the method's default (lora 1e-3, full 5e-5, cnn 2e-3,
    LightGBM 0.05)."""

    patience: int = 3
    """Early stopping: stop after this many evaluations without a better validation score
    (epochs for networks; x 25 boosting rounds for LightGBM)."""

    lora_r: int = 8
    """LoRA rank (method lora); adapters go on every linear layer of the encoder, with alpha
    twice the rank."""

    lora_head_init: Literal["probe", "random"] = "probe"
    """How the output layer starts (method lora). ``probe``: fitted first as a logistic
    regression on the frozen encoder's features (linear probing, then fine-tuning), so the
    adapters start from a working classifier. ``random``: transformers' random initialisation."""

    max_rounds: int = 2000
    """Most boosting rounds for LightGBM (tabular tasks)."""

    num_leaves: int = 31
    """LightGBM leaves per tree (tabular tasks)."""

    dp_epsilon: float | None = None
    """Train with differential privacy through Opacus to this epsilon (networks only)."""

    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes saved with the model (e.g. where the training data came from)."""

    def __post_init__(self) -> None:
        if self.method not in ("head", "lora", "full"):
            raise InvalidInput(f"--method {self.method} is unknown; use head, lora or full")
        if self.lora_head_init not in ("probe", "random"):
            raise InvalidInput(
                f"lora_head_init {self.lora_head_init} is unknown; use probe or random"
            )
        if self.class_weight not in ("balanced", "none"):
            raise InvalidInput(
                f"--class-weight {self.class_weight} is unknown; use balanced or none"
            )
        if not 0 <= self.epochs <= 1000:
            raise InvalidInput(f"epochs {self.epochs} is out of range; use 1..1000 (0: default)")
        if self.learning_rate < 0 or self.patience < 1 or self.lora_r < 1:
            raise InvalidInput("learning_rate must be >= 0, patience >= 1 and lora_r >= 1")
        if self.max_rounds < 1 or self.num_leaves < 2:
            raise InvalidInput("max_rounds must be >= 1 and num_leaves >= 2")
        if self.dp_epsilon is not None and self.dp_epsilon <= 0:
            raise InvalidInput("--dp-epsilon must be a positive number, e.g. 8")
        if not 8 <= self.max_tokens <= 512:
            raise InvalidInput(f"max_tokens {self.max_tokens} is out of range; use 8..512")
        if not self.c_values or any(c <= 0 for c in self.c_values):
            raise InvalidInput("c_values must be positive numbers, e.g. 0.25,1,4")
        object.__setattr__(self, "base_model", canonical_name(self.base_model))
        object.__setattr__(self, "c_values", tuple(float(c) for c in self.c_values))

    def epochs_for(self, default: int) -> int:
        return self.epochs or default

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
