"""What a pilot measured, as plain values: the audit's headline, cross-validated quality with its
interval, the learning curve, and the serving and training compute. No money here (see
``economics``): the same pilot can be priced under other economics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CurvePoint:
    """Cross-validated quality when `fraction` of the pilot's labelled rows are used (`rows` of
    them; each fold trains on (k-1)/k of those and is scored on rows it never saw)."""

    fraction: float
    rows: int
    quality: float
    low: float
    high: float


@dataclass
class Pilot:
    """One candidate's quick pilot.

    ``quality`` is the share of held-out rows answered right (accuracy; for regression the
    share within ``tolerance`` of the true value), pooled over the cross-validation folds;
    ``low``/``high`` its Wilson 95% interval. ``baseline`` is what the trivial answer gets
    (always the most frequent class; for regression always the training median)."""

    name: str
    task: str
    metric: str
    rows_in_file: int
    rows_used: int
    audit: dict[str, Any]
    flags: list[str]
    quality: float
    low: float
    high: float
    fold_std: float
    folds: int
    baseline: float
    baseline_answer: str
    curve: list[CurvePoint]
    serving_cpu_s_per_1k: float
    """CPU core-seconds per 1,000 calls (one call = one input), measured on real batches."""
    serving_wall_ms_per_call: float
    serving_inputs: int
    serving_batch: int
    train_cpu_s: float
    """CPU core-seconds to train one model on every pilot row (measured on the full-size
    folds)."""
    seconds: float
    base_model: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def learnable(self) -> bool:
        """The pessimistic end of the quality interval beats the trivial answer."""
        return self.low > self.baseline

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["learnable"] = self.learnable
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pilot:
        d = {k: v for k, v in d.items() if k != "learnable"}
        d["curve"] = [CurvePoint(**c) for c in d.get("curve", [])]
        return cls(**d)


__all__ = ["CurvePoint", "Pilot"]
