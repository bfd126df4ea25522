"""Work on stored versions: diff two, clean one into a new version (with lineage), k-fold."""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from modelmint.data.audit import audit_rows, normalise, text_digest
from modelmint.data.builder import read_examples, store_version, to_ref
from modelmint.data.splits import SPLITS, order_key
from modelmint.errors import InvalidInput
from modelmint.store import Store
from modelmint.types import DatasetRef, Example


def diff_versions(a: list[Example], b: list[Example], limit: int = 20) -> dict[str, Any]:
    """Rows added, removed and relabelled (same text, other label) from a to b, split moves,
    and the change in label distribution."""
    am = {e.input_key(): e for e in a}
    bm = {e.input_key(): e for e in b}
    added = [t for t in bm if t not in am]
    removed = [t for t in am if t not in bm]
    # an added row whose normalised text matches a removed one is the same row, rewritten
    removed_norm = {normalise(t): t for t in removed}
    rewritten = {t: removed_norm[normalise(t)] for t in added if normalise(t) in removed_norm}
    added = [t for t in added if t not in rewritten]
    gone = set(rewritten.values())
    removed = [t for t in removed if t not in gone]
    changed = [t for t in bm if t in am and _y(am[t]) != _y(bm[t])]
    moved = [t for t in bm if t in am and am[t].split != bm[t].split]
    la = Counter(lab for e in a for lab in _label_list(e))
    lb = Counter(lab for e in b for lab in _label_list(e))
    return {
        "rows": {"a": len(a), "b": len(b)},
        "added": len(added),
        "removed": len(removed),
        "text_changed": len(rewritten),
        "label_changed": len(changed),
        "split_changed": len(moved),
        "labels": {
            k: {"a": la.get(k, 0), "b": lb.get(k, 0), "delta": lb.get(k, 0) - la.get(k, 0)}
            for k in sorted(set(la) | set(lb))
        },
        "added_examples": [
            {"text": t[:200], "label": bm[t].label, "split": bm[t].split} for t in added[:limit]
        ],
        "removed_examples": [
            {"text": t[:200], "label": am[t].label, "split": am[t].split} for t in removed[:limit]
        ],
        "text_changed_examples": [
            {"from": old[:200], "to": new[:200]} for new, old in list(rewritten.items())[:limit]
        ],
        "label_changed_examples": [
            {"text": t[:200], "from": _y(am[t]), "to": _y(bm[t])} for t in changed[:limit]
        ],
    }


def _y(e: Example) -> str:
    """The answer of an example, whatever the task, as text."""
    return e.answer()


def _label_list(e: Example) -> list[str]:
    if e.labels or e.target is not None or e.tags:
        return list(e.labels) or list(e.tags)
    return [e.label]


def _normalize(text: str, fold_width: bool) -> str:
    t = unicodedata.normalize("NFKC" if fold_width else "NFC", text)
    t = "".join(
        " " if unicodedata.category(ch) in ("Zs", "Cc") and ch not in "\n" else ch for ch in t
    )
    return re.sub(r"\s+", " ", t).strip()


def clean_version(
    store: Store,
    datasets_dir: Path,
    name: str,
    version: int | None = None,
    *,
    normalize: bool = False,
    fold_width: bool = False,
    drop_near_duplicates: bool = False,
    conflicts: str = "drop",
    drop_label_errors: bool = False,
    drop_rows: list[int] | None = None,
    missing: str | None = None,
    scale: bool = False,
) -> tuple[DatasetRef, dict[str, Any], bool]:
    """Apply the chosen fixes to a stored version and store the result as a new version whose
    lineage (parent and every fix with its count) is recorded. Rows keep their split."""
    if conflicts not in ("drop", "majority"):
        raise InvalidInput(f"--conflicts {conflicts}: use drop or majority")
    parent = store.datasets.get(name, version)
    path = Path(parent["path"])
    examples = read_examples(path)
    fixes: list[dict[str, Any]] = []
    drop: set[int] = set()
    if drop_label_errors:
        review_path = path.with_suffix(".review.json")
        review = json.loads(review_path.read_text()) if review_path.exists() else {}
        if "label_issues" not in review:
            raise InvalidInput(
                f"no reviewed label errors for {name}:{parent['version']}; run `modelmint data "
                f"audit {name}:{parent['version']} --label-errors`, look at them, then clean"
            )
        rows = set(review["label_issues"]["all_rows"])
        drop |= rows
        fixes.append({"fix": "drop_label_errors", "rows": len(rows)})
    if drop_rows:
        bad = [r for r in drop_rows if not 1 <= r <= len(examples)]
        if bad:
            raise InvalidInput(
                f"rows {bad[:5]} are outside 1..{len(examples)}; use row numbers from the audit"
            )
        drop |= set(drop_rows)
        fixes.append({"fix": "drop_rows", "rows": len(set(drop_rows))})
    kept = [e for i, e in enumerate(examples, 1) if i not in drop]
    if normalize or fold_width:
        changed = 0
        out = []
        for e in kept:
            t = _normalize(e.text, fold_width) if e.text else e.text
            changed += t != e.text
            out.append(dataclasses.replace(e, text=t))
        kept = out
        fixes.append({"fix": "fold_width" if fold_width else "normalize", "changed": changed})
    if missing is not None or scale:
        kept = _tabular_fixes(kept, parent["task"], missing, scale, fixes)
    # texts that became equal: merge duplicates, resolve or drop conflicts
    groups: dict[str, list[Example]] = defaultdict(list)
    for e in kept:
        groups[e.input_key()].append(e)
    merged, dup, dropped_conflicts, resolved = [], 0, 0, 0
    for es in groups.values():
        labels = Counter(_y(e) for e in es)
        if len(labels) > 1:
            (top, n), (_, n2) = labels.most_common(2)
            if conflicts == "majority" and n > n2:
                first = next(e for e in es if _y(e) == top)
                merged.append(first)
                resolved += 1
            else:
                dropped_conflicts += len(es)
            continue
        dup += len(es) - 1
        merged.append(es[0])
    fixes.append({"fix": "merge_duplicates", "rows": dup})
    if dropped_conflicts or resolved:
        fixes.append(
            {"fix": f"conflicts_{conflicts}", "dropped": dropped_conflicts, "resolved": resolved}
        )
    if drop_near_duplicates:
        seen: dict[bytes, Example] = {}
        near = 0
        out = []
        # keep test rows first, so a near-duplicate never survives in train next to its test twin
        for e in sorted(merged, key=lambda e: SPLITS.index(e.split), reverse=True):
            k = text_digest(normalise(e.input_key()))
            if k in seen:
                near += 1
                continue
            seen[k] = e
            out.append(e)
        merged = out
        fixes.append({"fix": "drop_near_duplicates", "rows": near})
    classification = parent["task"] in (
        "text-classification",
        "tabular-classification",
        "image-classification",
        "faq",
    )
    if classification and len({e.label for e in merged}) < 2:
        raise InvalidInput("these fixes would leave fewer than two classes; drop fewer rows")
    if len(merged) < 3:
        raise InvalidInput(f"these fixes would leave {len(merged)} row(s); drop fewer rows")
    audit = audit_rows([{"text": e.input_key(), "label": _y(e)} for e in merged])
    audit["fixes"] = fixes
    ref, created = store_version(
        store,
        datasets_dir,
        name,
        merged,
        audit=audit,
        source={"kind": "clean", "parent": f"{name}:{parent['version']}", "fixes": fixes},
        parent_id=parent["id"],
        task=parent["task"],
    )
    return ref, audit, created


def _tabular_fixes(
    examples: list[Example],
    task: str,
    missing: str | None,
    scale: bool,
    fixes: list[dict[str, Any]],
) -> list[Example]:
    """Missing values dropped or imputed, numeric features standardised; every statistic comes
    from the train split only and is recorded in the lineage, so serving can apply the same."""
    import statistics

    if not task.startswith("tabular"):
        raise InvalidInput(f"--missing and --scale are for tabular data, not {task}")
    if missing not in (None, "drop", "impute"):
        raise InvalidInput(f"--missing {missing}: use drop or impute")
    train = [e for e in examples if e.split == "train"]
    columns = sorted({c for e in examples for c in (e.features or {})})

    def values(c: str) -> list[Any]:
        return [(e.features or {}).get(c) for e in train if (e.features or {}).get(c) is not None]

    numeric = {
        c for c in columns if values(c) and all(isinstance(v, float | int) for v in values(c))
    }
    out = examples
    if missing == "drop":
        out = [e for e in out if all((e.features or {}).get(c) is not None for c in columns)]
        fixes.append({"fix": "drop_missing", "rows": len(examples) - len(out)})
    elif missing == "impute":
        fill = {}
        for c in columns:
            vs = values(c)
            if vs:
                fill[c] = (
                    statistics.median(vs) if c in numeric else Counter(vs).most_common(1)[0][0]
                )
        n = sum(1 for e in out for c in columns if (e.features or {}).get(c) is None)
        out = [
            _with_features(
                e, {c: fill.get(c) if v is None else v for c, v in (e.features or {}).items()}
            )
            for e in out
        ]
        fixes.append(
            {
                "fix": "impute_missing",
                "cells": n,
                "values": fill,
                "from": "train split (median / most frequent)",
            }
        )
    if scale:
        params = {}
        train = [e for e in out if e.split == "train"]  # after imputation, as serving will see
        for c in sorted(numeric):
            vs = [float(v) for v in values(c)]
            mean = sum(vs) / len(vs)
            std = statistics.pstdev(vs) or 1.0
            params[c] = {"mean": mean, "std": std}
        out = [
            _with_features(
                e,
                {
                    c: (float(v) - params[c]["mean"]) / params[c]["std"]
                    if c in params and v is not None
                    else v
                    for c, v in (e.features or {}).items()
                },
            )
            for e in out
        ]
        fixes.append(
            {
                "fix": "scale",
                "method": "standard (x - mean) / std, from the train split",
                "params": params,
            }
        )
    return out


def _with_features(e: Example, features: dict[str, Any]) -> Example:
    return Example.from_record({**e.to_record(), "features": features})


def kfold(examples: list[Example], k: int = 5, *, seed: int = 0) -> list[int]:
    """Fold (0..k-1) for each train/validation example, stratified by label; test rows get -1
    (the frozen test split never enters cross-validation)."""
    if k < 2:
        raise InvalidInput("k-fold needs k >= 2")
    folds = [-1] * len(examples)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        if e.split != "test":
            by_label[e.label].append(i)
    for label, idx in sorted(by_label.items()):
        if len(idx) < k:
            raise InvalidInput(
                f"class '{label}' has {len(idx)} train/validation rows; k={k} needs at least {k}"
            )
        idx.sort(key=lambda i: order_key(seed, text_digest(examples[i].text)))
        for j, i in enumerate(idx):
            folds[i] = j % k
    return folds


__all__ = ["clean_version", "diff_versions", "kfold", "to_ref"]
