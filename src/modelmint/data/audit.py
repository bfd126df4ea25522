"""The data-quality audit, computed in one streaming pass: memory grows with the number of
distinct texts (a 16-byte digest and a few integers each), never with their length."""

from __future__ import annotations

import hashlib
import statistics
import unicodedata
from array import array
from collections import Counter
from typing import Any

MAX_LISTED = 50  # rows named per finding; the counts are always complete


def text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def normalise(text: str) -> str:
    """For near-duplicates: NFKC (folds full-width to half-width), lower case, no whitespace or
    punctuation."""
    t = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in t if ch.isalnum())


class AuditAccumulator:
    """Feed rows with :meth:`add`; :meth:`report` gives the audit. Rows are 1-based numbers
    the user can look up (line numbers for text files)."""

    def __init__(self) -> None:
        self.rows = 0
        self.empty_text: list[int] = []
        self.n_empty_text = 0
        self.missing_label: list[int] = []
        self.n_missing_label = 0
        # digest -> [first row, label, count, conflict(0/1)]
        self.by_text: dict[bytes, list[Any]] = {}
        self.extra_rows: dict[bytes, list[int]] = {}  # rows of repeated texts (capped)
        self.labels_of_conflict: dict[bytes, Counter[str]] = {}
        self.norm_first: dict[bytes, int] = {}
        self.near_dup_rows: list[tuple[int, int]] = []
        self.n_near_dup = 0
        self.lengths = array("I")

    def add(self, row: int, text: str, label: str) -> None:
        self.rows += 1
        stripped = text.strip()
        if not stripped:
            self.n_empty_text += 1
            if len(self.empty_text) < MAX_LISTED:
                self.empty_text.append(row)
            return
        self.lengths.append(len(stripped))
        if not label:
            self.n_missing_label += 1
            if len(self.missing_label) < MAX_LISTED:
                self.missing_label.append(row)
            return
        d = text_digest(stripped)
        entry = self.by_text.get(d)
        if entry is None:
            self.by_text[d] = [row, label, 1, 0]
            nd = text_digest(normalise(stripped))
            first = self.norm_first.setdefault(nd, row)
            if first != row:  # same text up to case, width, spacing and punctuation
                self.n_near_dup += 1
                if len(self.near_dup_rows) < MAX_LISTED:
                    self.near_dup_rows.append((first, row))
            return
        entry[2] += 1
        if entry[1] != label or entry[3]:
            if not entry[3]:
                entry[3] = 1
                self.labels_of_conflict[d] = Counter({entry[1]: entry[2] - 1})
            self.labels_of_conflict[d][label] += 1
        if len(self.extra_rows) < MAX_LISTED or d in self.extra_rows:
            rows = self.extra_rows.setdefault(d, [])
            if len(rows) < 5:
                rows.append(row)

    def kept(self, conflicts: str = "drop") -> dict[bytes, list[Any]]:
        """Distinct labelled texts: digest -> [first row, label, count, conflict].

        Texts with conflicting labels are dropped, or with ``conflicts="majority"`` kept under
        their most frequent label (ties are still dropped)."""
        if conflicts not in ("drop", "majority"):
            raise ValueError("conflicts must be 'drop' or 'majority'")
        out = {}
        for d, e in self.by_text.items():
            if not e[3]:
                out[d] = e
            elif conflicts == "majority":
                (top, n), *rest = self.labels_of_conflict[d].most_common()
                if not rest or rest[0][1] < n:
                    out[d] = [e[0], top, e[2], 1]
        return out

    def report(self) -> dict[str, Any]:
        dup_groups = [(d, e) for d, e in self.by_text.items() if e[2] > 1 and not e[3]]
        conflicts = [(d, e) for d, e in self.by_text.items() if e[3]]
        balance: Counter[str] = Counter()
        for e in self.by_text.values():
            if not e[3]:
                balance[e[1]] += e[2]
        total = sum(balance.values()) or 1
        lengths = sorted(self.lengths)
        n_rare = [k for k, v in balance.items() if v < max(5, total * 0.01)]
        return {
            "rows": self.rows,
            "empty_texts": self.n_empty_text,
            "empty_text_rows": self.empty_text,
            "missing_labels": self.n_missing_label,
            "missing_label_rows": self.missing_label,
            "duplicate_rows": sum(e[2] - 1 for _, e in dup_groups),
            "duplicate_examples": [[e[0], *self.extra_rows.get(d, [])] for d, e in dup_groups[:20]],
            "near_duplicate_rows": self.n_near_dup,
            "near_duplicate_examples": [list(p) for p in self.near_dup_rows[:20]],
            "conflicting_texts": len(conflicts),
            "conflict_examples": [
                {
                    "rows": [e[0], *self.extra_rows.get(d, [])],
                    "labels": sorted(self.labels_of_conflict[d]),
                }
                for d, e in conflicts[:20]
            ],
            "class_balance": dict(sorted(balance.items())),
            "class_share": {k: round(v / total, 4) for k, v in sorted(balance.items())},
            "rare_classes": sorted(n_rare),
            "text_length": {
                "min": lengths[0] if lengths else 0,
                "median": int(statistics.median(lengths)) if lengths else 0,
                "p95": lengths[min(len(lengths) - 1, round(0.95 * (len(lengths) - 1)))]
                if lengths
                else 0,
                "max": lengths[-1] if lengths else 0,
            },
            "length_histogram": _histogram(lengths),
        }


def _histogram(sorted_lengths: list[int] | array, bins: int = 12) -> list[dict[str, int]]:
    """Counts in log-spaced length bins (1, 2-3, 4-7, ...) for the report's chart."""
    if not sorted_lengths:
        return []
    out: list[dict[str, int]] = []
    lo = 1
    i = 0
    n = len(sorted_lengths)
    while i < n and len(out) < bins:
        hi = lo * 2 - 1 if len(out) < bins - 1 else max(sorted_lengths[-1], lo)
        count = 0
        while i < n and sorted_lengths[i] <= hi:
            count += 1
            i += 1
        out.append({"from": lo, "to": hi, "count": count})
        lo = hi + 1
    return out


def audit_rows(rows: list[dict[str, str]]) -> dict[str, Any]:
    """The audit of rows already in memory (same rules as the streaming pass)."""
    acc = AuditAccumulator()
    for i, r in enumerate(rows, 1):
        acc.add(i, r["text"], r["label"])
    return acc.report()


class ColumnProfiler:
    """Per column, in one pass with bounded memory: missing values, distinct values (exact up to
    a cap), numeric or text, constant and ID-like columns, and numeric outliers (Tukey's far-out
    fences, 3 x IQR, on a reservoir sample of 5,000 values; the rows named come from the sample)."""

    DISTINCT_CAP = 100_000
    SAMPLE = 5_000

    def __init__(self, seed: int = 0) -> None:
        import random

        self.rng = random.Random(seed)
        self.cols: dict[str, dict[str, Any]] = {}
        self.rows = 0

    def add(self, row: int, record: dict[str, Any]) -> None:
        self.rows += 1
        for name, value in record.items():
            c = self.cols.get(name)
            if c is None:
                c = self.cols[name] = {
                    "missing": 0,
                    "numeric": 0,
                    "text": 0,
                    "distinct": set(),
                    "overflow": False,
                    "sample": [],
                    "seen_numeric": 0,
                }
            s = "" if value is None else str(value).strip()
            if not s:
                c["missing"] += 1
                continue
            if not c["overflow"]:
                c["distinct"].add(
                    hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=8).digest()
                )
                if len(c["distinct"]) > self.DISTINCT_CAP:
                    c["overflow"] = True
            num = _as_number(value)
            if num is None:
                c["text"] += 1
                continue
            c["numeric"] += 1
            c["seen_numeric"] += 1
            if len(c["sample"]) < self.SAMPLE:
                c["sample"].append((num, row))
            else:
                j = self.rng.randrange(c["seen_numeric"])
                if j < self.SAMPLE:
                    c["sample"][j] = (num, row)

    def report(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, c in self.cols.items():
            present = self.rows - c["missing"]
            distinct = len(c["distinct"])
            flags = []
            if present and distinct == 1:
                flags.append("constant")
            if not c["overflow"] and present >= 20 and distinct == present:
                flags.append("id-like")
            if c["overflow"]:
                flags.append("id-like")
            kind = (
                "numeric"
                if c["numeric"] and not c["text"]
                else "text"
                if not c["numeric"]
                else "mixed"
            )
            if kind == "mixed":
                flags.append("mixed types")
            prof: dict[str, Any] = {
                "missing": c["missing"],
                "distinct": f">{self.DISTINCT_CAP}" if c["overflow"] else distinct,
                "kind": kind,
                "flags": flags,
            }
            if c["numeric"] >= 20:
                vals = sorted(v for v, _ in c["sample"])
                q1, q3 = vals[len(vals) // 4], vals[(3 * len(vals)) // 4]
                lo, hi = q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1)
                out_rows = sorted(r for v, r in c["sample"] if v < lo or v > hi)
                prof["outliers"] = {
                    "low_fence": lo,
                    "high_fence": hi,
                    "count": round(len(out_rows) / len(vals) * c["numeric"]),
                    "estimated": c["numeric"] > len(vals),
                    "example_rows": out_rows[:MAX_LISTED],
                }
            out[name] = prof
        return out


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value == value else None  # NaN is missing-like
    try:
        f = float(str(value).strip().replace(",", ""))
    except ValueError:
        return None
    return f if f == f and abs(f) != float("inf") else None
