"""Plain values that stages exchange. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from modelmint.errors import InvalidInput

MICROS = 1_000_000


TASKS = (
    "text-classification",
    "multi-label",
    "text-regression",
    "tabular-classification",
    "tabular-regression",
    "token-classification",
    "image-classification",
    "faq",
)

FEEDBACK_TASKS = (
    "text-classification",
    "faq",
    "multi-label",
    "text-regression",
    "tabular-classification",
    "tabular-regression",
)
"""Tasks whose logged input plus a feedback answer is a training example (see
:func:`feedback_example`). Entities and images are retrained from corrected rows instead: the log
keeps no image bytes, and a correction of entities is a whole tagged sentence, not one label."""

TABULAR = ("tabular-classification", "tabular-regression")


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled example. ``split`` is train, validation or test.

    Text classification uses ``text`` and ``label``; the other tasks add their own fields:
    multi-label ``labels``, regression ``target``, tabular ``features`` (column -> value),
    token classification ``tokens`` and ``tags`` (same length), image classification ``image``
    (a content-addressed file name in the dataset's ``images/`` folder)."""

    text: str
    label: str
    split: str = "train"
    source: str = "data"
    labels: tuple[str, ...] = ()
    target: float | None = None
    features: dict[str, Any] | None = None
    tokens: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    image: str = ""

    def input_key(self) -> str:
        """What makes two examples the same input: the text, the image, the tokens, or the
        features in canonical form."""
        if self.image:
            return "image:" + self.image
        if self.tokens:
            return " ".join(self.tokens)
        if self.features is not None:
            import json

            return json.dumps(self.features, ensure_ascii=False, sort_keys=True)
        return self.text

    def answer(self) -> str:
        """The answer of the example, whatever the task, as canonical text: the label, the
        labels sorted and joined by ``|``, the target's repr, or the tags joined by spaces."""
        if self.labels:
            return "|".join(sorted(self.labels))
        if self.target is not None:
            return repr(float(self.target))
        if self.tags:
            return " ".join(self.tags)
        return self.label

    def to_record(self) -> dict[str, Any]:
        """The JSON object stored for this example (empty fields left out)."""
        r: dict[str, Any] = {}
        if self.text or not (self.features or self.tokens or self.image):
            r["text"] = self.text
        if self.image:
            r["image"] = self.image
        if self.label or not (self.labels or self.target is not None or self.tags):
            r["label"] = self.label
        if self.labels:
            r["labels"] = list(self.labels)
        if self.target is not None:
            r["target"] = self.target
        if self.features is not None:
            r["features"] = self.features
        if self.tokens:
            r["tokens"] = list(self.tokens)
            r["tags"] = list(self.tags)
        r["split"] = self.split
        r["source"] = self.source
        return r

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Example:
        return cls(
            text=r.get("text", ""),
            label=r.get("label", ""),
            split=r.get("split", "train"),
            source=r.get("source", "data"),
            labels=tuple(r.get("labels", ())),
            target=r.get("target"),
            features=r.get("features"),
            tokens=tuple(r.get("tokens", ())),
            tags=tuple(r.get("tags", ())),
            image=r.get("image", ""),
        )


@dataclass(frozen=True, slots=True)
class DatasetRef:
    name: str
    version: int
    content_hash: str
    path: Path
    n_rows: int
    labels: tuple[str, ...]
    task: str = "text-classification"

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True, slots=True)
class ModelRef:
    name: str
    version: int
    path: Path
    checksum: str
    dataset: str
    base_model: str
    metrics: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True, slots=True)
class TrainResult:
    model_dir: Path
    labels: tuple[str, ...]
    n_train: int
    n_validation: int
    validation_metrics: dict[str, float]
    seconds: float
    embed_cache_hits: int
    embed_cache_misses: int


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Metrics on one frozen split. ``per_class`` maps label -> precision/recall/f1/support."""

    split: str
    n: int
    accuracy: float = 0.0
    macro_precision: float = 0.0
    macro_recall: float = 0.0
    macro_f1: float = 0.0
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    confusion: list[list[int]] = field(default_factory=list)
    predictions: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    """Probability-based metrics (roc_auc, pr_auc, ece, reliability), bootstrap intervals
    (accuracy_ci95, macro_f1_ci95) and the majority-class baseline, when probabilities were
    given."""
    task: str = "text-classification"
    metrics: dict[str, Any] = field(default_factory=dict)
    """The headline metrics of tasks that are not single-label classification (regression:
    mae, rmse, r2, mape; multi-label: micro/macro F1; entities: span precision/recall/F1)."""
    losses: tuple[float, ...] = ()
    """Per-example loss in split order (0/1 error, absolute error, 1 - sentence F1), for the
    paired test between two models."""
    primary: str = "accuracy"
    """The metric the promotion gate compares."""
    higher_is_better: bool = True

    def value(self, metric: str | None = None) -> float:
        m = metric or self.primary
        if m in self.metrics:
            return float(self.metrics[m])
        return float(getattr(self, m))

    def headline(self) -> dict[str, Any]:
        if self.metrics:
            return {
                **self.metrics,
                "n_test": float(self.n),
                **{k: self.extra[k] for k in ("baseline",) if k in self.extra},
            }
        out: dict[str, Any] = {
            "accuracy": self.accuracy,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "n_test": float(self.n),
        }
        for k in ("accuracy_ci95", "macro_f1_ci95", "roc_auc", "pr_auc", "ece", "baseline"):
            if k in self.extra:
                out[k] = self.extra[k]
        return out


@dataclass(frozen=True, slots=True)
class Prediction:
    """One model output. Classification fills ``label``/``score``/``scores``; multi-label adds
    ``labels`` (every label over its threshold); regression puts the number in ``value`` (and
    its text in ``label``); token classification lists ``entities`` (type, text, start, end in
    tokens)."""

    label: str
    score: float
    scores: dict[str, float]
    value: float | None = None
    labels: tuple[str, ...] = ()
    entities: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in integer micro-units (1e-6) of a currency. Never a float."""

    micros: int
    currency: str = "USD"

    @classmethod
    def parse(cls, text: str | int | Decimal, currency: str = "USD") -> Money:
        try:
            value = Decimal(str(text).strip())
        except InvalidOperation:
            raise InvalidInput(
                f"'{text}' is not an amount of money; write it as a decimal number such as 2.00"
            ) from None
        if not value.is_finite() or value < 0:
            raise InvalidInput(f"'{text}' is not a valid price; use a number >= 0 such as 2.00")
        micros = (value * MICROS).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return cls(int(micros), currency.upper())

    def __str__(self) -> str:
        return f"{self.decimal_str()} {self.currency}"

    def decimal_str(self, places: int = 2) -> str:
        q = Decimal(self.micros) / MICROS
        # show at least `places` decimals, more when the amount needs them
        exact = q.normalize()
        exp = exact.as_tuple().exponent
        shown = max(places, -exp if isinstance(exp, int) and exp < 0 else 0)
        return f"{q:.{shown}f}"


__all__ = [
    "TASKS",
    "DatasetRef",
    "EvalReport",
    "Example",
    "ModelRef",
    "Money",
    "Prediction",
    "TrainResult",
]


class MeterOutcome(StrEnum):
    """What metering decided for one call (a `StrEnum`: it compares equal to its value)."""

    OK = "ok"
    """Committed: its prediction-log rows and usage row are written."""
    OVER_QUOTA = "over_quota"
    """The call would cross the tenant's quota or budget: nothing written."""
    CONFLICT = "conflict"
    """Its Idempotency-Key was claimed by another request: nothing written."""
    REVOKED = "revoked"
    """The cached key was revoked since it was cached: nothing written."""
    EXPIRED = "expired"
    """The cached key expired since it was cached: nothing written."""
    SUSPENDED = "suspended"
    """The tenant was suspended since the key was cached: nothing written."""
    STALE = "stale"
    """The tenant's plan changed since the key was cached: authenticate again and retry."""


@dataclass(frozen=True, slots=True)
class MeterItem:
    """One call to meter: what the gateway hands the metering writer after the model ran."""

    request_id: str
    tenant_id: int
    key_id: str
    scenario: str
    period: str
    """Billing period of the call, ``YYYY-MM`` (UTC)."""
    quota: int | None
    """The most units the tenant may use in the period (quota or budget), None for no cap."""
    prediction_rows: tuple[dict[str, Any], ...]
    """One prediction-log row per billed unit: id, model_version, input_text (redacted),
    label, score, latency_ms."""
    unit_type: str = "predict"
    """``predict`` or ``explain``: what the units are priced as."""
    live: bool = True
    """False for test keys: recorded apart, never billed, no quota."""
    plan_id: int | None = None
    """The plan the cached caller held; when set, the key is re-checked in the transaction."""
    idempotency: tuple[str, str, str] | None = None
    """(Idempotency-Key, request hash, response JSON) to claim with the call."""
    alert_levels: tuple[tuple[str, int, int, int], ...] = ()
    """(kind, threshold %, level in units, cap) of the alerts this call may cross."""
    shadow_rows: tuple[dict[str, Any], ...] = ()
    """A shadow challenger's prediction-log rows: logged with the call, never billed."""

    @property
    def units(self) -> int:
        return len(self.prediction_rows)

    @property
    def model_version(self) -> int | None:
        """The version that answered (every input of a call goes to one version)."""
        return self.prediction_rows[0].get("model_version") if self.prediction_rows else None


def feedback_example(
    task: str, logged_input: str, answer: str, labels: frozenset[str] | set[str]
) -> Example | str:
    """A logged input (the prediction log's redacted text; a tabular row's features as JSON)
    and a feedback answer as a training example, or the reason it cannot be one: ``empty_input``
    (blank, or not kept by log sampling), ``unreadable_input`` (a tabular row that is not a JSON
    object), ``unknown_label`` (a label the scenario does not have) or ``bad_value`` (a
    regression answer that is not a finite number)."""
    import json
    import math

    text = (logged_input or "").strip()
    if not text:
        return "empty_input"
    features: dict[str, Any] | None = None
    if task in TABULAR:
        try:
            features = json.loads(text)
        except ValueError:
            return "unreadable_input"
        if not isinstance(features, dict) or not features:
            return "unreadable_input"
        text = ""
    answer = (answer or "").strip()
    if task in ("text-regression", "tabular-regression"):
        try:
            value = float(answer)
        except ValueError:
            return "bad_value"
        if not math.isfinite(value):
            return "bad_value"
        return Example(text=text, label="", source="feedback", target=value, features=features)
    if task == "multi-label":
        parts = tuple(sorted({p.strip() for p in answer.split(",") if p.strip()}))
        if not parts or any(p not in labels for p in parts):
            return "unknown_label"
        return Example(text=text, label="", source="feedback", labels=parts)
    if answer not in labels:
        return "unknown_label"
    return Example(text=text, label=answer, source="feedback", features=features)
