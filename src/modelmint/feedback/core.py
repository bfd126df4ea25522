"""Feedback and outcomes on logged predictions, and curation of feedback into training data."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from modelmint.errors import InvalidInput, NotFound
from modelmint.store import Store
from modelmint.types import Example

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
            "feedback on entities is not a single label; add corrected sentences with "
            "`modelmint data add` and train again"
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


def curate(store: Store, scenario: str, labels: list[str]) -> tuple[list[Example], dict[str, int]]:
    """Feedback rows -> training examples: latest label per prediction, known labels only,
    empty texts dropped, one example per distinct text (the most frequent label wins; ties drop)."""
    rows = store.feedback.labelled(scenario)
    stats = {"feedback": len(rows), "unknown_label": 0, "empty_text": 0, "conflicting": 0}
    votes: dict[str, Counter[str]] = {}
    for r in rows:
        text = (r["text"] or "").strip()
        if not text:
            stats["empty_text"] += 1
            continue
        if r["label"] not in labels:
            stats["unknown_label"] += 1
            continue
        votes.setdefault(text, Counter())[r["label"]] += 1
    out = []
    for text, c in sorted(votes.items()):
        (top, n), *rest = c.most_common()
        if rest and rest[0][1] == n:
            stats["conflicting"] += 1
            continue
        out.append(Example(text=text, label=top, split="train", source="feedback"))
    stats["examples"] = len(out)
    stats["corrections"] = sum(1 for r in rows if r["label"] != r["predicted"])
    return out, stats
