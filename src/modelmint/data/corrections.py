"""Corrected rows for a retrain: read a file (or image folder) the way its dataset was read, and
merge it into a copy of that dataset that keeps the frozen test split.

Entities and images cannot be retrained from feedback (the log keeps no image bytes, and a
correction of entities is a whole tagged sentence), so they are retrained from corrected rows -
and so can every other task. The rows go through ``data add`` unchanged (redaction, audit,
checks), as a version of the sibling dataset ``NAME-corrections``, which keeps their lineage.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelmint.data.builder import read_examples
from modelmint.data.snapshot import add_dataset
from modelmint.errors import InvalidInput
from modelmint.store import Store
from modelmint.types import DatasetRef, Example

Progress = Callable[[str, int, int], None]
SUFFIX = "-corrections"


def corrections_name(dataset: str) -> str:
    """The sibling dataset that holds corrected rows of `dataset` (within the 63-character
    limit of a name)."""
    return dataset[: 63 - len(SUFFIX)] + SUFFIX


def _columns_used(store: Store, dataset: dict[str, Any]) -> list[list[str]]:
    """The column options the dataset's file was read with, from the first version of its
    lineage that came from a file (feedback and cleaned versions inherit them)."""
    row: dict[str, Any] | None = dataset
    while row is not None:
        cols = (row.get("source") or {}).get("columns_used")
        if cols:
            return cols
        parent = row.get("parent_id")
        row = store.datasets.get_by_id(parent) if parent else None
    return []


def read_corrections(
    store: Store,
    datasets_dir: Path,
    dataset: dict[str, Any],
    path: Path,
    *,
    max_bytes: int,
    progress: Progress | None = None,
) -> tuple[list[Example], DatasetRef]:
    """Read corrected rows for `dataset` (a stored version's row) from `path`, with the same
    columns as its data (a file) or class folders (images); InvalidInput naming the fix when
    they do not match. Image files are put beside the dataset's own images."""
    task = dataset["task"]
    opts: dict[str, Any] = {}
    for opt, col in _columns_used(store, dataset):
        if opt in ("label", "features"):
            opts.setdefault(opt, []).append(col)
        else:
            opts[opt] = col
    if task == "multi-label" and len(opts.get("label", [])) == 1:
        opts["label_sep"] = ","  # one column of comma-separated labels
    name = corrections_name(dataset["name"])
    try:
        ref, _audit, _created = add_dataset(
            store,
            datasets_dir,
            name,
            path,
            task=task,
            max_bytes=max_bytes,
            progress=progress,
            all_train=True,  # a handful of rows of one class is a fine correction
            **opts,
        )
    except InvalidInput as e:
        shown = ", ".join(f"--{k} {v}" for k, v in opts.items()) or "class folders"
        raise InvalidInput(
            f"corrected rows for {dataset['name']}:{dataset['version']} ({task}) must have its "
            f"columns ({shown}): {e}"
        ) from e
    if ref.task != task:
        raise InvalidInput(
            f"{path.name} reads as {ref.task}, but {dataset['name']} is {task}; give rows with "
            "the same columns as its data"
        )
    rows = read_examples(ref.path)
    if task == "image-classification":
        _share_images(datasets_dir / name / "images", Path(dataset["path"]).parent / "images", rows)
    return rows, ref


def _share_images(src: Path, dst: Path, rows: list[Example]) -> None:
    """Content-addressed image files of the corrections, linked (or copied) beside the
    dataset's own; a file already there is the same bytes (its name is its hash)."""
    dst.mkdir(mode=0o700, parents=True, exist_ok=True)
    for e in rows:
        target = dst / e.image
        if e.image and not target.exists():
            try:
                os.link(src / e.image, target)
            except OSError:
                shutil.copyfile(src / e.image, target)


def merge_corrections(
    base: list[Example], corrections: list[Example]
) -> tuple[list[Example], dict[str, int]]:
    """`base` with `corrections` applied: a corrected row replaces the row of the same input
    and keeps its split (so a fixed test label is scored as fixed, for both models alike); a new
    input joins the training split, so the test split stays the one production was scored on."""
    index = {e.input_key(): i for i, e in enumerate(base)}
    out = list(base)
    stats = {"rows": len(corrections), "corrected": 0, "unchanged": 0, "added": 0}
    for c in corrections:
        key = c.input_key()
        if key in index:
            old = out[index[key]]
            if old.answer() == c.answer():
                stats["unchanged"] += 1
                continue
            stats["corrected"] += 1
            out[index[key]] = _with_split(c, old.split)
        else:
            stats["added"] += 1
            index[key] = len(out)
            out.append(_with_split(c, "train"))
    return out, stats


def _with_split(e: Example, split: str) -> Example:
    return dataclasses.replace(e, split=split, source="correction")


__all__ = ["corrections_name", "merge_corrections", "read_corrections"]
