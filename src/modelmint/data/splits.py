"""Deterministic, stratified train/validation/test splits.

Within each stratum (a class, or a task's bucket), rows are ordered by a seeded hash of their
input, so the same rows in any order with the same seed land in the same splits. Pure functions:
no files, no database. Used by the dataset builder, by in-memory splits and by k-fold.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Any

from modelmint.data.audit import text_digest
from modelmint.errors import InvalidInput
from modelmint.types import Example

SPLITS = ("train", "validation", "test")


def order_key(seed: int, digest: bytes) -> bytes:
    """The seeded sort key of a row (or group) digest: the order rows are assigned in."""
    return hashlib.blake2b(
        digest, digest_size=8, key=seed.to_bytes(8, "little", signed=True)
    ).digest()


def check_sizes(test_size: float, validation_size: float) -> None:
    """Refuse split fractions that leave too little for training."""
    if not 0 < test_size < 1 or not 0 < validation_size < 1 or test_size + validation_size >= 0.9:
        raise InvalidInput(
            "test and validation sizes must be fractions with test + validation < 0.9, e.g. "
            "--test-size 0.2 --validation-size 0.1"
        )


def _split_sizes(n: int, test_size: float, validation_size: float, label: str) -> tuple[int, int]:
    n_test = max(1, round(n * test_size))
    n_val = max(1, round(n * validation_size))
    if n - n_test - n_val < 1:
        raise InvalidInput(
            f"class '{label}' has only {n} example(s): too few for a test, a validation and a "
            f"train row at --test-size {test_size} --validation-size {validation_size} - add "
            "examples or drop that class"
        )
    return n_test, n_val


def assign_splits(
    by_label: dict[str, list[bytes]],
    *,
    test_size: float,
    validation_size: float,
    seed: int,
    small_to_train: bool = False,
) -> dict[bytes, str]:
    """Text digest -> split, stratified per label, by seeded-hash order. With
    ``small_to_train`` (FAQ answers), a label with fewer than 3 rows goes wholly to train."""
    check_sizes(test_size, validation_size)
    out: dict[bytes, str] = {}
    for label in sorted(by_label):
        digests = sorted(by_label[label], key=lambda d: order_key(seed, d))
        if small_to_train and len(digests) < 3:
            out.update({d: "train" for d in digests})
            continue
        n_test, n_val = _split_sizes(len(digests), test_size, validation_size, label)
        for i, d in enumerate(digests):
            out[d] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return out


def assign_group_splits(
    kept: dict[bytes, list[Any]],
    group_of: dict[bytes, bytes],
    *,
    stratum_of: dict[bytes, str] | None = None,
    test_size: float,
    validation_size: float,
    seed: int,
) -> dict[bytes, str]:
    """Input digest -> split such that no group spans two splits. Groups are stratified by the
    most common stratum of their rows (the class, or the task's stratum from `stratum_of`) and
    ordered by a seeded hash; each split takes whole groups until it holds its share of rows."""
    check_sizes(test_size, validation_size)
    members: dict[bytes, list[bytes]] = defaultdict(list)
    for d in kept:
        members[group_of[d]].append(d)
    buckets: dict[str, list[bytes]] = defaultdict(list)
    for g, ds in members.items():
        top = Counter(stratum_of[d] if stratum_of else kept[d][1] for d in ds).most_common(1)[0][0]
        buckets[top].append(g)
    out: dict[bytes, str] = {}
    for label in sorted(buckets):
        groups = sorted(buckets[label], key=lambda g: order_key(seed, g))
        if len(groups) < 3:
            raise InvalidInput(
                f"class '{label}' is the majority in only {len(groups)} group(s); grouped splits "
                "need at least 3 per class - use a finer --group column or drop --group"
            )
        sizes = [len(members[g]) for g in groups]
        total = sum(sizes)
        n_test = _take(sizes, 0, total * test_size, leave=2)
        n_val = _take(sizes, n_test, total * validation_size, leave=1)
        for i, g in enumerate(groups):
            split = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
            for d in members[g]:
                out[d] = split
    return out


def _take(sizes: list[int], start: int, rows: float, *, leave: int) -> int:
    """How many groups from `start` reach `rows` rows: at least 1, leaving `leave` groups."""
    n, got = 0, 0
    while start + n < len(sizes) - leave and (n == 0 or got < rows):
        got += sizes[start + n]
        n += 1
    return n


def stratified_split(
    rows: list[dict[str, str]], *, test_size: float, validation_size: float, seed: int
) -> list[Example]:
    """In-memory rows ({text, label}) as examples with their splits."""
    by_label: dict[str, list[bytes]] = defaultdict(list)
    text_of: dict[bytes, dict[str, str]] = {}
    for r in rows:
        d = text_digest(r["text"])
        by_label[r["label"]].append(d)
        text_of[d] = r
    splits = assign_splits(
        by_label, test_size=test_size, validation_size=validation_size, seed=seed
    )
    out = [
        Example(text=text_of[d]["text"], label=text_of[d]["label"], split=s)
        for d, s in splits.items()
    ]
    out.sort(key=lambda e: (SPLITS.index(e.split), e.label, e.text))
    return out


__all__ = [
    "SPLITS",
    "assign_group_splits",
    "assign_splits",
    "check_sizes",
    "order_key",
    "stratified_split",
]
