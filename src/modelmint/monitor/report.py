"""A monitoring report: one window of a scenario's logged predictions against the production
version's reference, as plain values (JSON, the terminal table and the HTML page all read it).

Sections: ``inputs`` (drift per column and on embeddings), ``outputs`` (class mix, confidence,
regression values), ``quality`` (once feedback arrives), ``business`` (each outcome event's
rate and value per call, per version), and ``signals``, the verdicts alerts are raised on."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from modelmint.intervals import wilson
from modelmint.monitor import stats
from modelmint.monitor.reference import Reference, text_signals

REGRESSION = ("text-regression", "tabular-regression")
SIGNALS = ("input_drift", "output_drift", "confidence", "quality")


@dataclass(frozen=True)
class Thresholds:
    """When a signal alerts (see docs/monitoring.md for why each default)."""

    min_predictions: int = 100  # rows of the production version in the window
    drift_share: float = 0.5  # share of drifted input columns that is dataset drift
    confidence_drop: float = 0.05  # fall of the mean confidence below the reference's
    low_confidence: float = 0.5  # a prediction below this confidence counts as unsure
    min_labelled: int = 30  # labelled predictions before quality is judged


@dataclass
class Window:
    """Logged predictions of one window as numpy columns (oldest first), so that a slice is a
    view and a filter one indexing: a report of a million predictions copies no rows."""

    ids: np.ndarray
    versions: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    texts: np.ndarray
    drift: np.ndarray
    created_at: np.ndarray  # datetime64[us], UTC
    arms: np.ndarray

    @classmethod
    def of(cls, *columns: Sequence[Any] | np.ndarray) -> Window:
        """A window from its eight columns, in field order (as the store reads them)."""
        ids, versions, labels, scores, texts, drift, created_at, arms = columns

        def objects(values: Any) -> np.ndarray:
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out

        return cls(
            objects(ids),
            np.asarray(versions, dtype=np.int64),
            objects(labels),
            np.asarray(scores, dtype=np.float64),
            objects(texts),
            objects(drift),
            np.asarray(created_at, dtype="datetime64[us]"),
            objects(arms),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, keep: np.ndarray | slice) -> Window:
        """The rows at `keep` (indices, a mask or a slice: a slice takes views)."""
        return Window(*[col[keep] for col in self.__dict__.values()])

    def time(self, i: int) -> datetime:
        """When row `i` was predicted (UTC)."""
        return self.created_at[i].item().replace(tzinfo=UTC)


@dataclass
class Labels:
    """Feedback (the correct answer) and outcome events on the window's predictions."""

    truth: dict[str, str] = field(default_factory=dict)  # prediction id -> label
    outcomes: list[tuple[str, str, float | None]] = field(default_factory=list)


def build_report(
    reference: Reference | None,
    window: Window,
    labels: Labels,
    *,
    scenario: str,
    version: int,
    test_metrics: dict[str, Any] | None = None,
    thresholds: Thresholds | None = None,
    description: dict[str, Any] | None = None,
) -> dict[str, Any]:
    th = thresholds or Thresholds()
    theirs = window.versions != version
    mine = window.take(~theirs) if theirs.any() else window
    report: dict[str, Any] = {
        "scenario": scenario,
        "version": version,
        "window": {
            **(description or {}),
            "predictions": len(window),
            "of_version": len(mine),
            "first": window.time(0).isoformat() if len(window) else None,
            "last": window.time(-1).isoformat() if len(window) else None,
        },
        "reference": None
        if reference is None
        else {"rows": reference.n, "payload": reference.payload},
    }
    enough = len(mine) >= th.min_predictions
    report["inputs"] = input_drift(reference, mine, th) if reference is not None else None
    report["outputs"] = output_drift(reference, mine, th) if reference is not None else None
    report["quality"] = quality(reference, mine, labels, test_metrics or {}, th)
    report["business"] = business(window, labels)
    report["signals"] = signals(report, enough, th)
    return report


# --- inputs ----------------------------------------------------------------------------------
def input_drift(ref: Reference, w: Window, th: Thresholds) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    current: dict[str, Any] = {}
    payload = ref.decode(w.drift)
    if ref.payload == "tabular":
        for j, name in enumerate(ref.features):
            col = ref.columns[name]
            values = payload[:, j] if len(payload) else np.zeros(0, dtype=np.float32)
            current[name] = (
                level_counts(values, list(col.counts or {}))
                if col.kind == "categorical"
                else values
            )
    else:
        texts = [t for t in w.texts if t]  # unsampled predictions keep no text
        if texts and ref.columns:
            current = text_signals(texts, ref.vocabulary)
    for name, values in current.items():
        col = ref.columns.get(name)  # a signal the reference has no sketch of is not tested
        test = stats.column_test(col, values) if col else None
        if test is not None:
            columns[name] = {**test.to_dict(), **summary(col.kind, values)}
    out: dict[str, Any] = {"rows": len(payload) if ref.payload != "none" else len(w)}
    out["columns"] = columns
    tested = [c for c in columns.values()]
    drifted = [n for n, c in columns.items() if c["drifted"]]
    out["drifted_columns"] = drifted
    out["drifted_share"] = len(drifted) / len(tested) if tested else None
    if ref.embedding is not None:
        test, share = stats.embedding_test(ref.embedding.sample, payload)
        out["embedding"] = (
            None if test is None else {**test.to_dict(), "drifted_components_share": share}
        )
    return out


def level_counts(codes: np.ndarray, levels: list[str]) -> Counter[str]:
    """A categorical column's payload codes (index of the reference's level, -1 for a level the
    reference never saw, NaN for missing) counted per level name, without a string per row."""
    codes = codes[~np.isnan(codes)]
    out: Counter[str] = Counter()
    unseen = int((codes < 0).sum())
    if unseen:
        out["(unseen)"] = unseen
    known = codes[codes >= 0].astype(np.int64)
    for i, n in enumerate(np.bincount(known, minlength=len(levels)) if len(known) else []):
        if n:
            out[levels[i] if i < len(levels) else "(unseen)"] += int(n)
    return out


def summary(kind: str, values: Any) -> dict[str, Any]:
    if kind == "numeric":
        x = (
            values.astype(np.float64, copy=False)
            if isinstance(values, np.ndarray)
            else np.asarray([v for v in values if v is not None], dtype=np.float64)
        )
        x = x[~np.isnan(x)]
        return {"current_mean": round(float(x.mean()), 6) if len(x) else None}
    counts = values if isinstance(values, Counter) else Counter(v for v in values if v is not None)
    return {"current_top": [[k, n] for k, n in counts.most_common(3)]}


# --- outputs ---------------------------------------------------------------------------------
def output_drift(ref: Reference, w: Window, th: Thresholds) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ref.task in REGRESSION:
        values = [_float(v) for v in w.labels]
        col = ref.outputs.get("value")
        test = stats.column_test(col, values) if col else None
        if test is not None:
            out["value"] = {**test.to_dict(), **summary("numeric", values)}
        return out
    pred = ref.outputs.get("predicted")
    if pred is not None and ref.task != "multi-label":
        counts = Counter(w.labels.tolist())
        test = stats.column_test(pred, counts)
        if test is not None:
            out["predicted"] = {**test.to_dict(), **summary("categorical", counts)}
    conf = ref.outputs.get("confidence")
    if conf is not None and len(w.scores):
        test = stats.column_test(conf, w.scores)
        scores = np.asarray(w.scores, dtype=np.float64)
        ref_scores = np.asarray(conf.sample, dtype=np.float64)
        out["confidence"] = {
            **(test.to_dict() if test else {}),
            "reference_mean": round(float(ref_scores.mean()), 6),
            "current_mean": round(float(scores.mean()), 6),
            "reference_low_share": round(float((ref_scores < th.low_confidence).mean()), 6),
            "current_low_share": round(float((scores < th.low_confidence).mean()), 6),
            "low_below": th.low_confidence,
        }
    return out


def _float(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        return math.nan


# --- quality ---------------------------------------------------------------------------------
def quality(
    ref: Reference | None,
    w: Window,
    labels: Labels,
    test_metrics: dict[str, Any],
    th: Thresholds,
) -> dict[str, Any]:
    known = labels.truth
    ids, predicted = w.ids.tolist(), w.labels.tolist()
    pairs = (
        [(known[i], p) for i, p in zip(ids, predicted, strict=True) if i in known] if known else []
    )
    task = ref.task if ref else None
    out: dict[str, Any] = {"labelled": len(pairs)}
    if not pairs:
        return out
    if task in REGRESSION:
        errors = [abs(_float(t) - _float(p)) for t, p in pairs]
        mae, low, high = stats.mean_interval(errors)
        out.update(mae=round(mae, 6), interval=[round(low, 6), round(high, 6)])
        if "mae" in test_metrics:
            out["test_mae"] = test_metrics["mae"]
        return out
    from sklearn.metrics import f1_score

    truth = [t for t, _ in pairs]
    predicted = [p for _, p in pairs]
    right = sum(t == p for t, p in pairs)
    low, high = wilson(right, len(pairs))
    out.update(
        accuracy=round(right / len(pairs), 6),
        interval=[round(low, 6), round(high, 6)],
        macro_f1=round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 6),
    )
    if "accuracy" in test_metrics:
        out["test_accuracy"] = test_metrics["accuracy"]
    return out


# --- business --------------------------------------------------------------------------------
def business(w: Window, labels: Labels) -> dict[str, Any]:
    """Per event name and version: calls, calls with the event, rate (Wilson interval) and
    value per call (the sum of the event's values over the version's calls)."""
    if not labels.outcomes:
        return {}
    version_of = dict(zip(w.ids.tolist(), w.versions.tolist(), strict=True))
    calls = Counter(w.versions.tolist())
    hit: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    value: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for pid, event, v in labels.outcomes:
        version = version_of.get(pid)
        if version is None:
            continue
        hit[event][version].add(pid)
        if v is not None:
            value[event][version] += v
    out: dict[str, Any] = {}
    for event in sorted(hit):
        per: dict[str, Any] = {}
        for version in sorted(calls):
            n = calls[version]
            k = len(hit[event].get(version, ()))
            low, high = wilson(k, n)
            per[str(version)] = {
                "calls": n,
                "with_event": k,
                "rate": round(k / n, 6) if n else None,
                "interval": [round(low, 6), round(high, 6)],
                "value_per_call": round(value[event].get(version, 0.0) / n, 6) if n else None,
            }
        out[event] = per
    return out


# --- verdicts --------------------------------------------------------------------------------
def signals(report: dict[str, Any], enough: bool, th: Thresholds) -> dict[str, Any]:
    """Each alertable signal: ``state`` is ``alert``, ``ok`` or ``insufficient`` (too few
    predictions in the window to judge: neither raises nor clears an alert)."""
    out: dict[str, Any] = {}
    n = report["window"]["of_version"]
    inputs = report.get("inputs") or {}
    emb = inputs.get("embedding")
    if emb is not None:
        out["input_drift"] = _signal(enough, emb["drifted"], emb["statistic"], emb["threshold"], n)
    elif inputs.get("drifted_share") is not None:
        share = inputs["drifted_share"]
        out["input_drift"] = _signal(enough, share >= th.drift_share, share, th.drift_share, n)
    outputs = report.get("outputs") or {}
    main = outputs.get("predicted") or outputs.get("value")
    if main is not None:
        out["output_drift"] = _signal(
            enough, main["drifted"], main["statistic"], main["threshold"], n
        )
    conf = outputs.get("confidence")
    if conf is not None:
        drop = conf["reference_mean"] - conf["current_mean"]
        out["confidence"] = _signal(
            enough,
            drop >= th.confidence_drop and bool(conf.get("drifted", True)),
            round(drop, 6),
            th.confidence_drop,
            n,
        )
    q = report.get("quality") or {}
    labelled = q.get("labelled", 0)
    judged = labelled >= th.min_labelled
    if "test_accuracy" in q:  # worse than on the frozen test split, beyond chance
        worse = q["interval"][1] < q["test_accuracy"]
        out["quality"] = _signal(judged, worse, q["accuracy"], q["test_accuracy"], labelled)
    elif "test_mae" in q:
        worse = q["interval"][0] > q["test_mae"]
        out["quality"] = _signal(judged, worse, q["mae"], q["test_mae"], labelled)
    return out


def _signal(enough: bool, bad: bool, value: float, threshold: float, n: int) -> dict[str, Any]:
    return {
        "state": "insufficient" if not enough else ("alert" if bad else "ok"),
        "value": value,
        "threshold": threshold,
        "n": n,
    }
