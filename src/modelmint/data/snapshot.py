"""Clean, split and store an immutable, content-hashed dataset version."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from modelmint.data.audit import audit_rows
from modelmint.data.ingest import read_rows
from modelmint.data.redact import redact
from modelmint.errors import InvalidInput
from modelmint.store import Store
from modelmint.types import DatasetRef, Example

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
TASK = "text-classification"


def clean_rows(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, int]]:
    """Drop empty texts and missing labels, merge exact duplicates, drop conflicting texts.

    Returns the kept rows (text stripped, sorted so the result is independent of input order)
    and how many rows each rule removed."""
    labels_of: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        t = r["text"].strip()
        if t and r["label"]:
            labels_of[t].add(r["label"])
    dropped = {"empty_text": 0, "missing_label": 0, "duplicate": 0, "conflicting": 0}
    kept: dict[str, str] = {}
    for r in rows:
        t = r["text"].strip()
        if not t:
            dropped["empty_text"] += 1
        elif not r["label"]:
            dropped["missing_label"] += 1
        elif len(labels_of[t]) > 1:
            dropped["conflicting"] += 1
        elif t in kept:
            dropped["duplicate"] += 1
        else:
            kept[t] = r["label"]
    return [{"text": t, "label": lab} for t, lab in sorted(kept.items())], dropped


def stratified_split(
    rows: list[dict[str, str]], *, test_size: float, validation_size: float, seed: int
) -> list[Example]:
    """Deterministic stratified split: the same rows and seed always give the same split."""
    if not 0 < test_size < 1 or not 0 < validation_size < 1 or test_size + validation_size >= 0.9:
        raise InvalidInput(
            "test and validation sizes must be fractions with test + validation < 0.9, e.g. "
            "--test-size 0.2 --validation-size 0.1"
        )
    by_label: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_label[r["label"]].append(r["text"])
    rng = random.Random(seed)
    out: list[Example] = []
    for label in sorted(by_label):
        texts = by_label[label]
        rng.shuffle(texts)
        n = len(texts)
        n_test = max(1, round(n * test_size))
        n_val = max(1, round(n * validation_size))
        if n - n_test - n_val < 1:
            raise InvalidInput(
                f"class '{label}' has only {n} example(s); each class needs at least 3 (one each "
                "for train, validation and test) - add examples or drop that class"
            )
        for i, t in enumerate(texts):
            split = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
            out.append(Example(text=t, label=label, split=split))
    out.sort(key=lambda e: (SPLITS.index(e.split), e.label, e.text))
    return out


def content_hash(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for e in sorted(examples, key=lambda e: (e.split, e.label, e.text, e.source)):
        h.update(json.dumps([e.split, e.label, e.text, e.source], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def read_examples(path: Path) -> list[Example]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            out.append(Example(r["text"], r["label"], r["split"], r.get("source", "data")))
    return out


def _write_atomic(path: Path, examples: list[Example]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for e in examples:
                rec = {"text": e.text, "label": e.label, "split": e.split, "source": e.source}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_ref(row: dict[str, Any]) -> DatasetRef:
    return DatasetRef(
        name=row["name"],
        version=row["version"],
        content_hash=row["content_hash"],
        path=Path(row["path"]),
        n_rows=row["n_rows"],
        labels=tuple(row["labels"]),
        task=row["task"],
    )


def store_version(
    store: Store,
    datasets_dir: Path,
    name: str,
    examples: list[Example],
    *,
    audit: dict[str, Any],
    source: dict[str, Any],
    parent_id: int | None = None,
) -> tuple[DatasetRef, bool]:
    """Write the examples as an immutable version of `name`. Returns (ref, created).

    The same content under the same name is the same version: adding it again is a no-op."""
    _check_name(name)
    digest = content_hash(examples)
    existing = store.datasets.find_by_hash(name, digest)
    if existing is not None:
        return to_ref(existing), False
    path = datasets_dir / name / f"{digest}.jsonl"
    _write_atomic(path, examples)
    counts = {s: sum(1 for e in examples if e.split == s) for s in SPLITS}
    labels = sorted({e.label for e in examples})
    try:
        row = store.datasets.create(
            name=name,
            content_hash=digest,
            task=TASK,
            path=str(path),
            n_rows=len(examples),
            labels=labels,
            split_counts=counts,
            audit=audit,
            source=source,
            parent_id=parent_id,
        )
    except BaseException:
        # nothing half-written: the file goes unless another version already points at it
        if store.datasets.find_by_hash(name, digest) is None:
            path.unlink(missing_ok=True)
        raise
    return to_ref(row), True


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", name or ""):
        raise InvalidInput(
            f"'{name}' is not a valid name; use lowercase letters, digits, '-' and '_' "
            "(e.g. review-sentiment)"
        )


def add_dataset(
    store: Store,
    datasets_dir: Path,
    name: str,
    path: Path,
    *,
    text: str = "text",
    label: str = "label",
    fmt: str | None = None,
    encoding: str | None = None,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 0,
    redact_pii: bool = True,
) -> tuple[DatasetRef, dict[str, Any], bool]:
    """Ingest a file as a new version of dataset `name`: read, redact PII, audit, clean, split,
    store.

    Returns (ref, audit, created). Raises InvalidInput, and writes nothing, on bad input."""
    _check_name(name)
    rows, facts = read_rows(path, text=text, label=label, fmt=fmt, encoding=encoding)
    return add_rows(
        store,
        datasets_dir,
        name,
        rows,
        source={"path": str(path.resolve()), **facts, "text_column": text, "label_column": label},
        test_size=test_size,
        validation_size=validation_size,
        seed=seed,
        redact_pii=redact_pii,
    )


def add_rows(
    store: Store,
    datasets_dir: Path,
    name: str,
    rows: list[dict[str, str]],
    *,
    source: dict[str, Any],
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 0,
    redact_pii: bool = True,
) -> tuple[DatasetRef, dict[str, Any], bool]:
    _check_name(name)
    pii: Counter[str] = Counter()
    if redact_pii:  # before anything else sees the text, so nothing stores the original
        redacted = []
        for r in rows:
            clean, found = redact(r["text"])
            pii.update(found)
            redacted.append({**r, "text": clean})
        rows = redacted
    report = audit_rows(rows)
    report["pii_redacted"] = redact_pii
    report["pii"] = dict(sorted(pii.items()))
    kept, dropped = clean_rows(rows)
    report["dropped"] = dropped
    report["kept_rows"] = len(kept)
    classes = sorted({r["label"] for r in kept})
    if not kept:
        raise InvalidInput(
            "no usable rows: every row has an empty text or label; check the --text and --label "
            "columns"
        )
    if len(classes) < 2:
        raise InvalidInput(
            f"only one class ({classes[0]!r}) in the data; a classifier needs at least two - "
            "add examples of the other classes or check --label"
        )
    examples = stratified_split(
        kept, test_size=test_size, validation_size=validation_size, seed=seed
    )
    src = {
        **source,
        "seed": seed,
        "test_size": test_size,
        "validation_size": validation_size,
        "redact_pii": redact_pii,
    }
    ref, created = store_version(store, datasets_dir, name, examples, audit=report, source=src)
    return ref, report, created
