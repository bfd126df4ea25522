"""Write one immutable, content-hashed dataset version: the file and its row in the store.

Two ways in. ``store_version`` stores examples already in memory (a parent version plus curated
feedback, a cleaned version). ``VersionBuilder`` streams rows of any size in two passes with
bounded memory: ``add`` redacts, audits and spills each row to a temporary file; ``finish``
splits the kept rows (see ``splits``) and writes them into their splits. Both hash the content
independent of row order and reuse an existing version with the same hash. Tables
(``snapshot``) and image folders (``images``) are read into a ``VersionBuilder``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from modelmint.data.audit import AuditAccumulator, ColumnProfiler, text_digest
from modelmint.data.redact import redact
from modelmint.data.splits import SPLITS, assign_group_splits, assign_splits
from modelmint.errors import InvalidInput
from modelmint.store import Store
from modelmint.types import DatasetRef, Example

CLASSIFICATION = ("text-classification", "tabular-classification", "image-classification", "faq")
TASK = "text-classification"
Progress = Callable[[str, int, int], None]


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
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
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


class VersionBuilder:
    """Two passes over a spill file in the dataset folder; cleaned up whatever happens.

    ``workdir`` is the builder's private temporary folder inside the dataset folder: a reader
    may stage files there (images do) and they go with ``cleanup``.
    """

    def __init__(self, folder: Path, redact_pii: bool, group: bool = False) -> None:
        self.group_of: dict[bytes, bytes] | None = {} if group else None
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder = folder
        self.redact_pii = redact_pii
        self.pii: Counter[str] = Counter()
        self.audit = AuditAccumulator()
        self.columns = ColumnProfiler()
        self.multi_labels: dict[bytes, list[str]] = {}
        self.workdir = Path(tempfile.mkdtemp(dir=folder, prefix=".build-"))
        self._spill = (self.workdir / "rows.jsonl").open("w", encoding="utf-8")

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
        all_train: bool = False,
    ) -> tuple[DatasetRef, dict[str, Any], bool]:
        """Split the kept rows and store the version. ``all_train``: every row goes to the
        training split and the size rules of a dataset of its own (two classes, three rows per
        class) do not apply - corrected rows for a retrain, merged into a dataset that has them."""
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
        if all_train:
            pass
        elif classification:
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
        if all_train:
            splits = dict.fromkeys(kept, "train")
        elif self.group_of is not None:
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
        parts = {s: (self.workdir / f"{s}.jsonl").open("w", encoding="utf-8") for s in SPLITS}
        digests: list[bytes] = []
        done = 0
        with (self.workdir / "rows.jsonl").open(encoding="utf-8") as spill:
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
        out = self.workdir / "dataset.jsonl"
        with out.open("wb") as f:
            for s in SPLITS:
                with (self.workdir / f"{s}.jsonl").open("rb") as part:
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
        shutil.rmtree(self.workdir, ignore_errors=True)


__all__ = [
    "CLASSIFICATION",
    "TASK",
    "Progress",
    "VersionBuilder",
    "check_name",
    "content_hash",
    "read_examples",
    "row_digest",
    "store_version",
    "to_ref",
]
