"""Feedback and outcomes on logged predictions, and curation of feedback into training data."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from modelmint.errors import InvalidInput, NotFound
from modelmint.store import Store
from modelmint.types import FEEDBACK_TASKS, Example, feedback_example

_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
EVENT_MAX = 100  # characters of an outcome's event name (the column's size)

Redactor = Callable[[str], tuple[str, Mapping[str, int]]]
"""Text -> (text with personal data replaced, counts per type): :func:`modelmint.data.redact`."""


def find_prediction(store: Store, prediction_id: str, tenant_id: int) -> dict[str, Any]:
    if not _ULID.fullmatch(prediction_id or ""):
        raise NotFound(
            f"prediction '{prediction_id[:40]}' not found; use an id returned by your own "
            "predict call"
        )
    return store.feedback.prediction(prediction_id, tenant_id)


def record_feedback(
    store: Store,
    tenant_id: int,
    prediction_id: str,
    label: str,
    known_labels: list[str],
    task: str = "text-classification",
) -> dict[str, Any]:
    """Store the correct answer for a prediction: a label of the scenario, a number for
    regression, or comma-separated labels for multi-label."""
    find_prediction(store, prediction_id, tenant_id)  # NotFound for absent/other tenant
    label = (label or "").strip()
    if task in ("text-regression", "tabular-regression"):
        try:
            ok = math.isfinite(float(label))
        except ValueError:
            ok = False
        if not ok:
            raise InvalidInput(
                f"'{label[:40]}' is not a number; send the correct value, e.g. 215000"
            )
        return store.feedback.add_feedback(prediction_id, tenant_id, label)
    if task == "multi-label":
        parts = [p.strip() for p in label.split(",") if p.strip()]
        unknown = [p for p in parts if p not in known_labels]
        if unknown:
            raise InvalidInput(
                f"label(s) {', '.join(unknown)} are not this scenario's ({', '.join(known_labels)}); "
                "send the correct labels separated by commas"
            )
        return store.feedback.add_feedback(prediction_id, tenant_id, ",".join(sorted(parts)))
    if task == "token-classification":
        raise InvalidInput(
            "feedback on entities is not a single label; retrain from corrected sentences: "
            "`modelmint retrain SCENARIO --rows FILE` (the tokens and tags columns of its data)"
        )
    if label not in known_labels:
        raise InvalidInput(
            f"label '{label}' is not one of this scenario's labels ({', '.join(known_labels)}); "
            "send one of them"
        )
    return store.feedback.add_feedback(prediction_id, tenant_id, label)


def record_outcome(
    store: Store,
    tenant_id: int,
    prediction_id: str,
    event: str,
    value: float | None,
    *,
    redact: Redactor,
) -> dict[str, Any]:
    """Store a business outcome of a prediction. The event name is free text from the caller,
    so it goes through ``redact`` (the data stage's :func:`modelmint.data.redact`, passed in by
    whoever wires the stages: feedback may not import data) before it is stored; the stored
    name is cut to the column's 100 characters if the placeholders made it longer."""
    find_prediction(store, prediction_id, tenant_id)
    event = (event or "").strip()
    if not event or len(event) > EVENT_MAX or not event.isprintable():
        raise InvalidInput("event must be a name of 1-100 printable characters, e.g. 'converted'")
    if value is not None and not math.isfinite(value):
        raise InvalidInput("value must be a finite number, e.g. 49.90")
    event = redact(event)[0][:EVENT_MAX]
    return store.feedback.add_outcome(prediction_id, tenant_id, event, value)


def curate(
    store: Store,
    scenario: str,
    labels: list[str],
    task: str = "text-classification",
    *,
    columns: Mapping[str, bool] | None = None,
) -> tuple[list[Example], dict[str, int]]:
    """Feedback rows -> training examples, for every task in FEEDBACK_TASKS: the latest answer
    per prediction (:func:`modelmint.types.feedback_example`), one example per distinct input.
    Where several predictions of one input got feedback, classes and label sets take the most
    frequent answer (ties drop the input: the curators disagree) and numbers take the median.

    ``columns`` (tabular: column -> whether it is numeric, from the training data) drops a
    logged row whose columns differ or whose numeric column holds something else (for example a
    value that PII redaction replaced): it would train the model on a row it never sees.
    Every dropped row is counted in the returned stats under its reason."""
    if task not in FEEDBACK_TASKS:
        raise InvalidInput(
            f"feedback becomes training data for {', '.join(FEEDBACK_TASKS)}, not {task}; "
            "retrain it from corrected rows (`modelmint retrain SCENARIO --rows FILE`)"
        )
    rows = store.feedback.labelled(scenario)
    stats = {
        "feedback": len(rows),
        "unknown_label": 0,
        "empty_text": 0,
        "unreadable_input": 0,
        "bad_value": 0,
        "columns_differ": 0,
        "conflicting": 0,
    }
    known = frozenset(labels)
    groups: dict[str, list[Example]] = {}
    for r in rows:
        e = feedback_example(task, r["text"] or "", r["label"], known)
        if isinstance(e, str):
            stats["empty_text" if e == "empty_input" else e] += 1
            continue
        if columns is not None and not _fits(e.features or {}, columns):
            stats["columns_differ"] += 1
            continue
        groups.setdefault(e.input_key(), []).append(e)
    out = []
    for _key, es in sorted(groups.items()):
        if es[0].target is not None:  # regression: the median of the values given
            values = sorted(float(e.target) for e in es if e.target is not None)
            mid = len(values) // 2
            median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
            out.append(replace(es[0], target=median, split="train"))
            continue
        c = Counter(e.answer() for e in es)
        (top, n), *rest = c.most_common()
        if rest and rest[0][1] == n:
            stats["conflicting"] += 1
            continue
        out.append(replace(next(e for e in es if e.answer() == top), split="train"))
    stats["examples"] = len(out)
    stats["corrections"] = sum(1 for r in rows if not _agrees(task, r["predicted"], r["label"]))
    return out, stats


def _fits(features: Mapping[str, Any], columns: Mapping[str, bool]) -> bool:
    """The logged row has exactly the training columns, and numbers where they were numeric."""
    if set(features) != set(columns):
        return False
    for col, numeric in columns.items():
        v = features[col]
        if (
            numeric
            and v is not None
            and not (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v))
        ):
            return False
    return True


def _agrees(task: str, predicted: str | None, answer: str) -> bool:
    """Whether the feedback confirms the prediction (else it corrected the model)."""
    predicted = predicted or ""
    if task == "multi-label":
        return sorted(p for p in predicted.split(",") if p) == sorted(
            p for p in answer.split(",") if p
        )
    if task in ("text-regression", "tabular-regression"):
        try:
            return math.isclose(float(predicted), float(answer), rel_tol=1e-5)
        except ValueError:
            return False
    return predicted == answer
