"""The data-quality audit: what is in a set of labelled texts, and what is wrong with it."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any


def _percentile(sorted_vals: list[int], q: float) -> int:
    if not sorted_vals:
        return 0
    i = min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))
    return sorted_vals[i]


def audit_rows(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Counts and findings for rows of {"text", "label"}. Row numbers are 1-based data rows."""
    empty_text = [i for i, r in enumerate(rows, 1) if not r["text"].strip()]
    empty_label = [i for i, r in enumerate(rows, 1) if not r["label"]]
    by_text: dict[str, list[int]] = defaultdict(list)
    labels_of: dict[str, set[str]] = defaultdict(set)
    for i, r in enumerate(rows, 1):
        key = r["text"].strip()
        if key and r["label"]:
            by_text[key].append(i)
            labels_of[key].add(r["label"])
    conflicts = {k: v for k, v in by_text.items() if len(labels_of[k]) > 1}
    duplicate_rows = sum(len(v) - 1 for k, v in by_text.items() if k not in conflicts)
    balance = Counter(r["label"] for r in rows if r["label"] and r["text"].strip())
    lengths = sorted(len(r["text"]) for r in rows if r["text"].strip())
    total = sum(balance.values()) or 1
    return {
        "rows": len(rows),
        "empty_texts": len(empty_text),
        "empty_text_rows": empty_text[:50],
        "missing_labels": len(empty_label),
        "missing_label_rows": empty_label[:50],
        "duplicate_rows": duplicate_rows,
        "duplicate_examples": [
            v[:5] for k, v in by_text.items() if len(v) > 1 and k not in conflicts
        ][:20],
        "conflicting_texts": len(conflicts),
        "conflict_examples": [
            {"rows": v[:5], "labels": sorted(labels_of[k])} for k, v in list(conflicts.items())[:20]
        ],
        "class_balance": dict(sorted(balance.items())),
        "class_share": {k: round(v / total, 4) for k, v in sorted(balance.items())},
        "text_length": {
            "min": lengths[0] if lengths else 0,
            "median": int(statistics.median(lengths)) if lengths else 0,
            "p95": _percentile(lengths, 0.95),
            "max": lengths[-1] if lengths else 0,
        },
    }
