"""Tables and in-memory rows into immutable, content-hashed dataset versions.

``add_dataset`` reads a table file (or hands a folder or .zip of images to ``images``) row by
row into a ``VersionBuilder``: PII is redacted, rows audited and cleaned, then split
(stratified, deterministic: see ``splits``) and stored (see ``builder``). The names this module
has always offered (``read_examples``, ``store_version``, ``to_ref``, ...) are re-exported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from modelmint.data.audit import AuditAccumulator, audit_rows, text_digest
from modelmint.data.builder import (
    Progress,
    VersionBuilder,
    check_name,
    content_hash,
    read_examples,
    row_digest,
    store_version,
    to_ref,
)
from modelmint.data.images import add_image_dataset
from modelmint.data.ingest import DEFAULT_MAX_BYTES, Table, as_text
from modelmint.data.splits import SPLITS, assign_splits, check_sizes, stratified_split
from modelmint.errors import InvalidInput
from modelmint.store import Store
from modelmint.types import TASKS, DatasetRef

logger = logging.getLogger(__name__)


def clean_rows(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, int]]:
    """In-memory version of the cleaning rules: drop empty texts and missing labels, merge exact
    duplicates (first wins), drop texts with conflicting labels."""
    acc = AuditAccumulator()
    for i, r in enumerate(rows, 1):
        acc.add(i, r["text"], r["label"])
    kept = acc.kept()
    out = [
        {"text": r["text"].strip(), "label": r["label"]}
        for i, r in enumerate(rows, 1)
        if r["text"].strip()
        and r["label"]
        and kept.get(text_digest(r["text"].strip()), [0])[0] == i
    ]
    report = acc.report()
    conflicting_rows = sum(e[2] for e in acc.by_text.values() if e[3])
    return out, {
        "empty_text": report["empty_texts"],
        "missing_label": report["missing_labels"],
        "duplicate": report["duplicate_rows"],
        "conflicting": conflicting_rows,
    }


def add_dataset(
    store: Store,
    datasets_dir: Path,
    name: str,
    path: Path,
    *,
    text: str | None = None,
    label: str | list[str] | None = None,
    target: str | None = None,
    features: list[str] | None = None,
    tokens: str | None = None,
    tags: str | None = None,
    label_sep: str | None = None,
    task: str | None = None,
    fmt: str | None = None,
    encoding: str | None = None,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 0,
    redact_pii: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
    conflicts: str = "drop",
    group: str | None = None,
    skip_bad: bool = False,
    all_train: bool = False,
) -> tuple[DatasetRef, dict[str, Any], bool]:
    """Ingest a file (or a folder of class folders of images, or a .zip of one) as a new version of
    dataset `name`: stream, redact PII, audit, clean, split,
    store. The task is `task`, or inferred from the column options (the audit says which and
    why). Returns (ref, audit, created). On bad input: InvalidInput, and nothing is written."""
    from modelmint.data.tasks import resolve

    check_name(name)
    check_sizes(test_size, validation_size)
    images = path.is_dir() or path.suffix.lower() == ".zip"
    if task == "image-classification" and not images and path.exists():
        raise InvalidInput(
            f"--task image-classification needs a folder of class folders or a .zip of one, "
            f"not {path.name}"
        )
    if images:
        if task not in (None, "image-classification"):
            raise InvalidInput(
                f"{path.name} is a folder/.zip of images, which is image-classification, not "
                f"--task {task}; pass a .csv/.jsonl/.parquet/.xlsx file for {task}"
            )
        if group is not None or conflicts != "drop":
            raise InvalidInput(
                "--group and --conflicts majority are for table files, not image folders; "
                "drop them (duplicate images in two classes are always dropped)"
            )

        return add_image_dataset(
            store,
            datasets_dir,
            name,
            path,
            skip_bad=skip_bad,
            test_size=test_size,
            validation_size=validation_size,
            seed=seed,
            max_bytes=max_bytes,
            progress=progress,
            all_train=all_train,
        )
    if task is not None and task not in TASKS:
        raise InvalidInput(f"unknown --task {task}; use one of {', '.join(TASKS)}")
    table = Table(path, fmt=fmt, encoding=encoding, max_bytes=max_bytes)
    labels = [label] if isinstance(label, str) else list(label or [])
    spec = resolve(
        table,
        task=task,
        text=text,
        labels=labels,
        target=target,
        features=features,
        tokens=tokens,
        tags=tags,
        label_sep=label_sep,
        group=group,
    )
    if group is not None:
        table.require("group", group)
    if conflicts not in ("drop", "majority"):
        raise InvalidInput(f"--conflicts {conflicts}: use drop or majority")
    builder = VersionBuilder(datasets_dir / name, redact_pii, group=group is not None)
    try:
        for n, rec in table.rows():
            builder.columns.add(n, rec)
            converted = spec.convert(n, rec, builder.redact)
            if converted is None:
                continue
            key, y, payload = converted
            builder.add(n, key, y, as_text(rec.get(group)) if group is not None else None, payload)
            if progress and builder.audit.rows % 20000 == 0:
                progress("reading", table.bytes_read, table.size)
        if progress:
            progress("reading", table.size, table.size)
        spec.raise_if_bad(path.name)
        if builder.audit.rows == 0:
            raise InvalidInput(
                f"{path} has a header but no rows; add labelled rows below the header"
            )
        source = {
            "path": str(path.resolve()),
            **table.facts,
            "task": spec.task,
            "columns_used": [[opt, col] for opt, col in spec.columns()],
            "group_column": group,
        }
        return builder.finish(
            store,
            name,
            source=source,
            test_size=test_size,
            validation_size=validation_size,
            seed=seed,
            progress=progress,
            conflicts=conflicts,
            task=spec.task,
            task_reason=spec.inferred,
            all_train=all_train,
        )
    finally:
        builder.cleanup()


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
    """Rows already in memory through the same builder as files."""
    check_name(name)
    check_sizes(test_size, validation_size)
    builder = VersionBuilder(datasets_dir / name, redact_pii)
    try:
        for i, r in enumerate(rows, 1):
            builder.add(i, builder.redact(r["text"]), r["label"])
        if not rows:
            raise InvalidInput("no rows given; pass labelled rows")
        return builder.finish(
            store,
            name,
            source=source,
            test_size=test_size,
            validation_size=validation_size,
            seed=seed,
            progress=None,
        )
    finally:
        builder.cleanup()


__all__ = [
    "SPLITS",
    "add_dataset",
    "add_rows",
    "assign_splits",
    "audit_rows",
    "check_name",
    "clean_rows",
    "content_hash",
    "read_examples",
    "row_digest",
    "store_version",
    "stratified_split",
    "to_ref",
]
