"""Task types at ingest: which columns mean what, what was inferred, and how a row becomes
(audit key, label key, stored record)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelmint.data.ingest import Table, as_text
from modelmint.errors import InvalidInput

TRUE = {"1", "1.0", "true", "yes", "y", "t", "是"}
FALSE = {"0", "0.0", "false", "no", "n", "f", "", "否"}
MAX_ERRORS_LISTED = 5
NO_LABELS = "(none)"
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")


@dataclass
class TaskSpec:
    task: str
    text: str | None = None
    labels: list[str] = field(default_factory=list)
    target: str | None = None
    features: list[str] = field(default_factory=list)
    tokens: str | None = None
    tags: str | None = None
    label_sep: str | None = None
    inferred: str = ""
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    n_bad: int = 0

    @property
    def label(self) -> str | None:
        return self.labels[0] if self.labels else None

    @property
    def is_classification(self) -> bool:
        return self.task in ("text-classification", "tabular-classification", "faq")

    def columns(self) -> list[tuple[str, str]]:
        out = []
        if self.text:
            out.append(("text", self.text))
        out += [("label", c) for c in self.labels]
        if self.target:
            out.append(("target", self.target))
        out += [("features", c) for c in self.features]
        if self.tokens:
            out.append(("tokens", self.tokens))
        if self.tags:
            out.append(("tags", self.tags))
        return out

    def _bad(self, row: int, why: str) -> None:
        self.n_bad += 1
        if len(self.bad_rows) < MAX_ERRORS_LISTED:
            self.bad_rows.append((row, why))

    def convert(
        self, row: int, rec: dict[str, Any], redact: Callable[[str], str]
    ) -> tuple[str, str, dict[str, Any] | None] | None:
        """(audit key, label key, stored record or None for plain text classification), or
        None when the row is malformed (recorded in bad_rows)."""
        t = self.task
        if t in ("text-classification", "faq"):
            return redact(as_text(rec.get(self.text))), as_text(rec.get(self.label)).strip(), None
        if t == "multi-label":
            text = redact(as_text(rec.get(self.text)))
            if self.label_sep is not None:
                raw = as_text(rec.get(self.label))
                labels = sorted({p.strip() for p in raw.split(self.label_sep) if p.strip()})
            else:
                labels = []
                for c in self.labels:
                    v = as_text(rec.get(c)).strip().lower()
                    if v in TRUE:
                        labels.append(c)
                    elif v not in FALSE:
                        self._bad(row, f"column '{c}' is {v!r}, not 0/1")
                        return None
            labels = sorted(labels)
            # an empty set is a real answer ("none of these"), not a missing label
            return text, "|".join(labels) or NO_LABELS, {"text": text, "labels": labels}
        if t in ("text-regression", "tabular-regression"):
            raw = rec.get(self.target)
            value = _number(raw)
            if value is None:
                if as_text(raw).strip():
                    self._bad(row, f"target {as_text(raw)[:20]!r} is not a number")
                    return None
                # missing target: the audit counts it as a missing label, and it is dropped
                key = (
                    as_text(rec.get(self.text))
                    if t == "text-regression"
                    else _canon(self._features(rec, redact))
                )
                return key, "", None
            if t == "text-regression":
                text = redact(as_text(rec.get(self.text)))
                return text, repr(value), {"text": text, "target": value}
            feats = self._features(rec, redact)
            return _canon(feats), repr(value), {"features": feats, "target": value}
        if t == "tabular-classification":
            feats = self._features(rec, redact)
            label = as_text(rec.get(self.label)).strip()
            return _canon(feats), label, {"features": feats, "label": label}
        if t == "token-classification":
            toks, tags = _seq(rec.get(self.tokens)), _seq(rec.get(self.tags))
            if len(toks) != len(tags):
                self._bad(row, f"{len(toks)} tokens but {len(tags)} tags")
                return None
            toks = [redact(x) for x in toks]
            return " ".join(toks), " ".join(tags), {"tokens": toks, "tags": tags}
        raise InvalidInput(f"unknown task '{t}'")

    def _features(self, rec: dict[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.features:
            v = rec.get(c)
            num = _number(v)
            if num is not None:
                out[c] = num
            elif v is None or as_text(v).strip() == "":
                out[c] = None
            else:
                out[c] = redact(as_text(v).strip())
        return out

    def raise_if_bad(self, path_name: str) -> None:
        if not self.n_bad:
            return
        listed = "; ".join(f"row {r}: {why}" for r, why in self.bad_rows)
        fix = {
            "text-regression": f"make every '{self.target}' value a number (or leave it empty)",
            "tabular-regression": f"make every '{self.target}' value a number (or leave it empty)",
            "token-classification": f"give each row as many '{self.tags}' as '{self.tokens}'",
            "multi-label": "use 0/1 (or true/false, yes/no) in the label columns",
        }.get(self.task, "fix those rows")
        raise InvalidInput(f"{path_name}: {self.n_bad} malformed row(s) ({listed}); {fix}")


def _canon(features: dict[str, Any]) -> str:
    return json.dumps(features, ensure_ascii=False, sort_keys=True)


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else None
    s = str(v).strip()
    if "," in s:  # thousands separators only (1,234.5); a decimal comma (3,14) is not a number here
        if not _THOUSANDS.fullmatch(s):
            return None
        s = s.replace(",", "")
    try:
        f = float(s)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def _seq(v: Any) -> list[str]:
    """A token or tag sequence: a JSON list, a Python list, or whitespace-separated text."""
    if isinstance(v, list | tuple):
        return [as_text(x) for x in v]
    s = as_text(v).strip()
    if s.startswith("["):
        try:
            parsed = json.loads(s)
            if isinstance(parsed, list):
                return [as_text(x) for x in parsed]
        except json.JSONDecodeError:
            pass
    return s.split()


def resolve(
    table: Table,
    *,
    task: str | None,
    text: str | None,
    labels: list[str],
    target: str | None,
    features: list[str] | None,
    tokens: str | None,
    tags: str | None,
    label_sep: str | None,
    group: str | None = None,
) -> TaskSpec:
    """Decide the task (explicitly given, or inferred and said why) and check every column."""
    cols = table.columns
    excluded: list[str] = []
    if features == ["all"]:  # every column that is not already something else, nor an ID
        taken = {target, text, tokens, tags, group, *(labels or ([] if target else ["label"]))}
        feats = [c for c in cols if c not in taken]
        excluded = _id_like(table, feats)
        feats = [c for c in feats if c not in excluded]
    else:
        feats = features or []
    reason = ""
    if task is None:
        if tokens or tags:
            task, reason = "token-classification", "--tokens/--tags given"
        elif target:
            if feats:
                task, reason = "tabular-regression", "--target with --features"
            else:
                task, reason = "text-regression", "--target with a text column"
        elif feats:
            task, reason = "tabular-classification", "--features with --label"
        elif len(labels) > 1 or label_sep:
            task, reason = (
                "multi-label",
                "several --label columns" if len(labels) > 1 else "--label-sep",
            )
        else:
            lab = labels[0] if labels else "label"
            if lab in cols and _looks_numeric_target(table, lab):
                task, target, labels = "text-regression", lab, []
                reason = (
                    f"column '{lab}' holds many distinct numbers, so it is taken as a "
                    "regression target; pass --task text-classification to treat it as classes"
                )
            else:
                task, reason = "text-classification", "the default (one --label column)"
    spec = TaskSpec(
        task=task,
        text=None,
        labels=labels or ([] if target or task == "token-classification" else ["label"]),
        target=target,
        features=feats,
        tokens=tokens,
        tags=tags,
        label_sep=label_sep,
        inferred=reason,
    )
    if excluded:
        spec.inferred = (spec.inferred + "; " if spec.inferred else "") + (
            f"--features all left out {', '.join(excluded)}: every value is a different string "
            "(an ID or free text); list the features to keep one"
        )
    if task in ("text-classification", "multi-label", "text-regression", "faq"):
        spec.text = text or "text"
    elif text:
        spec.text = text
    if task in ("text-regression", "tabular-regression") and not spec.target:
        raise InvalidInput(f"task {task} needs --target COLUMN (the number to predict)")
    if task == "token-classification" and not (tokens and tags):
        raise InvalidInput("token classification needs --tokens COLUMN and --tags COLUMN")
    if task in ("tabular-classification", "tabular-regression") and not spec.features:
        raise InvalidInput(f"task {task} needs --features COL1,COL2 (or --features all)")
    if task in ("text-regression", "tabular-regression", "token-classification"):
        spec.labels = []
    for opt, col in spec.columns():
        table.require(opt, col)
    return spec


def _id_like(table: Table, columns: list[str], peek: int = 2000) -> list[str]:
    """Columns whose non-empty values, in the first rows, are all different non-numbers."""
    seen: dict[str, set[str]] = {c: set() for c in columns}
    count = dict.fromkeys(columns, 0)
    numeric = dict.fromkeys(columns, False)
    for i, (_, rec) in enumerate(table.rows()):
        if i >= peek:
            break
        for c in columns:
            v = as_text(rec.get(c)).strip()
            if not v:
                continue
            count[c] += 1
            seen[c].add(v)
            numeric[c] = numeric[c] or _number(v) is not None
    return [c for c in columns if count[c] >= 20 and not numeric[c] and len(seen[c]) == count[c]]


def _looks_numeric_target(table: Table, column: str, peek: int = 2000) -> bool:
    values = []
    for i, (_, rec) in enumerate(table.rows()):
        if i >= peek:
            break
        v = as_text(rec.get(column)).strip()
        if v:
            values.append(v)
    nums = [_number(v) for v in values]
    if not values or any(n is None for n in nums):
        return False
    distinct = len(set(values))
    fractional = any(not float(n).is_integer() for n in nums if n is not None)
    return (distinct > 20 and fractional) or distinct > 50
