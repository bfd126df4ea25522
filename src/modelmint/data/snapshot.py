"""Build and store immutable, content-hashed dataset versions.

``add_dataset`` streams a file in two passes with bounded memory: pass 1 redacts PII, audits and
spills the rows to a temporary file; pass 2 writes the kept rows into their splits. The split is
stratified and deterministic: within each class, rows are ordered by a seeded hash of their
text, so the same rows in any order with the same seed give the same version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from modelmint.data.audit import AuditAccumulator, ColumnProfiler, audit_rows, text_digest
from modelmint.data.ingest import DEFAULT_MAX_BYTES, Table, as_text
from modelmint.data.redact import redact
from modelmint.errors import InvalidInput
from modelmint.store import Store
from modelmint.types import TASKS, DatasetRef, Example

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
CLASSIFICATION = ("text-classification", "tabular-classification", "image-classification", "faq")
TASK = "text-classification"
Progress = Callable[[str, int, int], None]


# --- pure helpers (also used for in-memory rows) ---------------------------------------------
def row_digest(record: dict[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(record, ensure_ascii=False, sort_keys=True).encode()).digest()


def content_hash(examples: Iterable[Example]) -> str:
    """SHA-256 over the sorted row digests: independent of row order."""
    return _hash_digests([row_digest(e.to_record()) for e in examples])


def _hash_digests(digests: list[bytes]) -> str:
    digests.sort()
    h = hashlib.sha256()
    for d in digests:
        h.update(d)
    return h.hexdigest()


def _order_key(seed: int, digest: bytes) -> bytes:
    return hashlib.blake2b(
        digest, digest_size=8, key=seed.to_bytes(8, "little", signed=True)
    ).digest()


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


def _check_sizes(test_size: float, validation_size: float) -> None:
    if not 0 < test_size < 1 or not 0 < validation_size < 1 or test_size + validation_size >= 0.9:
        raise InvalidInput(
            "test and validation sizes must be fractions with test + validation < 0.9, e.g. "
            "--test-size 0.2 --validation-size 0.1"
        )


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
    _check_sizes(test_size, validation_size)
    out: dict[bytes, str] = {}
    for label in sorted(by_label):
        digests = sorted(by_label[label], key=lambda d: _order_key(seed, d))
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
    _check_sizes(test_size, validation_size)
    members: dict[bytes, list[bytes]] = defaultdict(list)
    for d in kept:
        members[group_of[d]].append(d)
    buckets: dict[str, list[bytes]] = defaultdict(list)
    for g, ds in members.items():
        top = Counter(stratum_of[d] if stratum_of else kept[d][1] for d in ds).most_common(1)[0][0]
        buckets[top].append(g)
    out: dict[bytes, str] = {}
    for label in sorted(buckets):
        groups = sorted(buckets[label], key=lambda g: _order_key(seed, g))
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


def stratified_split(
    rows: list[dict[str, str]], *, test_size: float, validation_size: float, seed: int
) -> list[Example]:
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


def read_examples(path: Path) -> list[Example]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            out.append(Example.from_record(json.loads(line)))
    return out


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


def check_name(name: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", name or ""):
        raise InvalidInput(
            f"'{name}' is not a valid name; use lowercase letters, digits, '-' and '_' "
            "(e.g. review-sentiment)"
        )


def _json_line(e: Example) -> str:
    return json.dumps(e.to_record(), ensure_ascii=False) + "\n"


def _register(
    store: Store,
    name: str,
    digest: str,
    tmp: Path,
    final: Path,
    *,
    counts: dict[str, int],
    labels: list[str],
    n_rows: int,
    audit: dict[str, Any],
    source: dict[str, Any],
    parent_id: int | None,
    task: str = TASK,
) -> tuple[DatasetRef, bool]:
    """Move the finished file into place and record the version; nothing is left on failure."""
    existing = store.datasets.find_by_hash(name, digest)
    if existing is not None:
        tmp.unlink(missing_ok=True)
        return to_ref(existing), False
    os.replace(tmp, final)
    try:
        row = store.datasets.create(
            name=name,
            content_hash=digest,
            task=task,
            path=str(final),
            n_rows=n_rows,
            labels=labels,
            split_counts=counts,
            audit=audit,
            source=source,
            parent_id=parent_id,
        )
    except BaseException:
        if store.datasets.find_by_hash(name, digest) is None:
            final.unlink(missing_ok=True)
        raise
    return to_ref(row), True


def _labels_of(task: str, examples: list[Example]) -> list[str]:
    if task in CLASSIFICATION:
        return sorted({e.label for e in examples})
    if task == "multi-label":
        return sorted({lab for e in examples for lab in e.labels})
    return []


def store_version(
    store: Store,
    datasets_dir: Path,
    name: str,
    examples: list[Example],
    *,
    audit: dict[str, Any],
    source: dict[str, Any],
    parent_id: int | None = None,
    task: str = TASK,
) -> tuple[DatasetRef, bool]:
    """Store examples already in memory (e.g. a parent version plus curated feedback)."""
    check_name(name)
    digest = content_hash(examples)
    folder = datasets_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for e in sorted(examples, key=lambda e: SPLITS.index(e.split)):
                f.write(_json_line(e))
        counts = dict(Counter(e.split for e in examples))
        return _register(
            store,
            name,
            digest,
            Path(tmp),
            folder / f"{digest}.jsonl",
            counts={s: counts.get(s, 0) for s in SPLITS},
            labels=_labels_of(task, examples),
            n_rows=len(examples),
            audit=audit,
            source=source,
            parent_id=parent_id,
            task=task,
        )
    finally:
        Path(tmp).unlink(missing_ok=True)


# --- streaming build from a file ------------------------------------------------------------
def _strata(
    task: str, kept: dict[bytes, list[Any]], payload_labels: dict[bytes, list[str]]
) -> dict[str, list[bytes]]:
    """Buckets for the stratified split: the class, the rarest label of a multi-label set, a
    quantile bin of a regression target, or one bucket for token sequences. Buckets too small to
    split (< 3 rows) are merged."""
    out: dict[str, list[bytes]] = defaultdict(list)
    if task in CLASSIFICATION:
        for d, e in kept.items():
            out[e[1]].append(d)
        return out
    if task == "multi-label":
        freq: Counter[str] = Counter(lab for labs in payload_labels.values() for lab in labs)
        for d in kept:
            labs = payload_labels.get(d) or []
            out[min(labs, key=lambda x: (freq[x], x)) if labs else "(none)"].append(d)
    elif task in ("text-regression", "tabular-regression"):
        ordered = sorted(kept, key=lambda d: float(kept[d][1]))
        bins = max(1, min(5, len(ordered) // 10))
        for i, d in enumerate(ordered):
            out[f"q{i * bins // len(ordered) + 1}"].append(d)
    else:
        out["all"] = list(kept)
    small = [k for k, v in out.items() if len(v) < 3]
    if small and len(out) > len(small):  # too small to split: join the largest stratum
        largest = max((k for k in out if k not in small), key=lambda k: len(out[k]))
        for k in small:
            out[largest].extend(out.pop(k))
    return out


class _Builder:
    """Two passes over a spill file in the dataset folder; cleaned up whatever happens."""

    def __init__(self, folder: Path, redact_pii: bool, group: bool = False) -> None:
        self.group_of: dict[bytes, bytes] | None = {} if group else None
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.redact_pii = redact_pii
        self.pii: Counter[str] = Counter()
        self.audit = AuditAccumulator()
        self.columns = ColumnProfiler()
        self.multi_labels: dict[bytes, list[str]] = {}
        self._tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".build-"))
        self._spill = (self._tmp / "rows.jsonl").open("w", encoding="utf-8")

    def redact(self, text: str) -> str:
        if not self.redact_pii or not text:
            return text
        clean, found = redact(text)
        if found:
            self.pii.update(found)
        return clean

    def add(
        self,
        row: int,
        key: str,
        y: str,
        group: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """`key` is what makes two rows the same input (the text, or the features/tokens in
        canonical form), `y` what they are labelled with; `payload` the record to store when it
        is more than {text, label}."""
        self.audit.add(row, key, y)
        k = key.strip()
        if k and self.group_of is not None:
            self.group_of.setdefault(text_digest(k), text_digest(group or "")[:8])
        if k and payload is not None and "labels" in payload:
            self.multi_labels.setdefault(text_digest(k), payload["labels"])
        self._spill.write(json.dumps([row, key, y, payload], ensure_ascii=False) + "\n")

    def finish(
        self,
        store: Store,
        name: str,
        *,
        source: dict[str, Any],
        test_size: float,
        validation_size: float,
        seed: int,
        progress: Progress | None,
        conflicts: str = "drop",
        task: str = TASK,
        task_reason: str = "",
        extra_report: dict[str, Any] | None = None,
    ) -> tuple[DatasetRef, dict[str, Any], bool]:
        self._spill.close()
        classification = task in CLASSIFICATION
        if conflicts == "majority" and not classification:
            raise InvalidInput(f"--conflicts majority is for classification, not {task}; use drop")
        report = self.audit.report()
        report.update(extra_report or {})
        report["task"] = task
        if task_reason:
            report["task_inferred"] = task_reason
        if self.columns.rows:
            report["columns"] = self.columns.report()
        report["pii_redacted"] = self.redact_pii
        report["pii"] = dict(sorted(self.pii.items()))
        kept = self.audit.kept(conflicts)
        if not kept:
            raise InvalidInput(
                "no usable rows: every row has an empty input or label; check the column options"
            )
        by_label = _strata(task, kept, self.multi_labels)
        if classification:
            if len(by_label) < 2:
                raise InvalidInput(
                    f"only one class ({next(iter(by_label))!r}) in the data; a classifier needs at "
                    "least two - add examples of the other classes or check --label"
                )
            if len(by_label) == len(kept) and len(kept) > 20:
                raise InvalidInput(
                    f"every label is different ({len(kept)} rows, {len(by_label)} labels): --label "
                    "looks like an ID or free-text column; pass the column that holds the classes"
                )
        elif len(kept) < 3:
            raise InvalidInput(f"only {len(kept)} usable row(s); {task} needs at least 3")
        self._task_report(task, report, kept)
        if self.group_of is not None:
            stratum_of = {d: k for k, ds in by_label.items() for d in ds}
            splits = assign_group_splits(
                kept,
                self.group_of,
                stratum_of=stratum_of,
                test_size=test_size,
                validation_size=validation_size,
                seed=seed,
            )
            report["groups"] = len({self.group_of[d] for d in kept})
        else:
            splits = assign_splits(
                by_label,
                test_size=test_size,
                validation_size=validation_size,
                seed=seed,
                small_to_train=task == "faq",
            )
        conflicting = sum(e[2] for d, e in self.audit.by_text.items() if e[3] and d not in kept)
        report["dropped"] = {
            "empty_input": report["empty_texts"],
            "missing_label": report["missing_labels"],
            "duplicate": report["duplicate_rows"],
            "conflicting": conflicting,
        }
        report["kept_rows"] = len(kept)
        report["conflicts_policy"] = conflicts
        report["conflicts_resolved_by_majority"] = sum(1 for e in kept.values() if e[3])
        parts = {s: (self._tmp / f"{s}.jsonl").open("w", encoding="utf-8") for s in SPLITS}
        digests: list[bytes] = []
        done = 0
        with (self._tmp / "rows.jsonl").open(encoding="utf-8") as spill:
            for line in spill:
                row, key, _y, payload = json.loads(line)
                done += 1
                if progress and done % 20000 == 0:
                    progress("writing", done, self.audit.rows)
                key = key.strip()
                if not key:
                    continue
                d = text_digest(key)
                e = kept.get(d)
                if e is None or e[0] != row:
                    continue
                split = splits[d]
                if payload is None:  # text classification; e[1] is the majority label if resolved
                    ex = Example(key, e[1], split)
                else:
                    rec = dict(payload)
                    if "label" in rec:
                        rec["label"] = e[1]
                    if "text" in rec:
                        rec["text"] = rec["text"].strip()
                    ex = Example.from_record({**rec, "split": split, "source": "data"})
                parts[split].write(_json_line(ex))
                digests.append(row_digest(ex.to_record()))
        if progress:
            progress("writing", self.audit.rows, self.audit.rows)
        for f in parts.values():
            f.close()
        digest = _hash_digests(digests)
        out = self._tmp / "dataset.jsonl"
        with out.open("wb") as f:
            for s in SPLITS:
                with (self._tmp / f"{s}.jsonl").open("rb") as part:
                    shutil.copyfileobj(part, f, 1 << 20)
        counts = Counter(splits.values())
        src = {
            **source,
            "seed": seed,
            "test_size": test_size,
            "validation_size": validation_size,
            "redact_pii": self.redact_pii,
        }
        labels = (
            sorted({e[1] for e in kept.values()})
            if classification
            else (
                sorted({lab for labs in self.multi_labels.values() for lab in labs})
                if task == "multi-label"
                else []
            )
        )
        ref, created = _register(
            store,
            name,
            digest,
            out,
            self.folder / f"{digest}.jsonl",
            counts={s: counts.get(s, 0) for s in SPLITS},
            labels=labels,
            n_rows=len(kept),
            audit=report,
            source=src,
            parent_id=None,
            task=task,
        )
        return ref, report, created

    def _task_report(self, task: str, report: dict[str, Any], kept: dict[bytes, list[Any]]) -> None:
        """Class balance means different things per task; say the right one."""
        if task == "image-classification":
            report.pop("text_length", None)
            report.pop("length_histogram", None)
        if task in ("text-regression", "tabular-regression"):
            values = sorted(float(e[1]) for e in kept.values())
            report.pop("class_share", None)
            report["class_balance"] = {}
            report["rare_classes"] = []
            report["target"] = {
                "min": values[0],
                "median": values[len(values) // 2],
                "max": values[-1],
                "mean": round(sum(values) / len(values), 6),
            }
        elif task == "multi-label":
            c = Counter(lab for d in kept for lab in self.multi_labels.get(d, []))
            total = len(kept)
            report["class_balance"] = dict(sorted(c.items()))
            report["class_share"] = {k: round(v / total, 4) for k, v in sorted(c.items())}
            report["rare_classes"] = sorted(k for k, v in c.items() if v < max(5, total * 0.01))
        elif task == "token-classification":
            c = Counter(t for e in kept.values() for t in e[1].split())
            report["class_balance"] = dict(sorted(c.items()))
            total = sum(c.values()) or 1
            report["class_share"] = {k: round(v / total, 4) for k, v in sorted(c.items())}
            report["rare_classes"] = sorted(k for k, v in c.items() if v < 5)

    def cleanup(self) -> None:
        if not self._spill.closed:
            self._spill.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


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
) -> tuple[DatasetRef, dict[str, Any], bool]:
    """Ingest a file (or a folder of class folders of images, or a .zip of one) as a new version of
    dataset `name`: stream, redact PII, audit, clean, split,
    store. The task is `task`, or inferred from the column options (the audit says which and
    why). Returns (ref, audit, created). On bad input: InvalidInput, and nothing is written."""
    from modelmint.data.tasks import resolve

    check_name(name)
    _check_sizes(test_size, validation_size)
    images = path.is_dir() or path.suffix.lower() == ".zip"
    if task == "image-classification" and not images and path.exists():
        raise InvalidInput(
            f"--task image-classification needs a folder of class folders or a .zip of one, "
            f"not {path.name}"
        )
    if images:
        from modelmint.data.images import add_image_dataset

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
    builder = _Builder(datasets_dir / name, redact_pii, group=group is not None)
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
    _check_sizes(test_size, validation_size)
    builder = _Builder(datasets_dir / name, redact_pii)
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
    "store_version",
    "stratified_split",
    "to_ref",
]
