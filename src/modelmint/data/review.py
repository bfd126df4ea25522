"""Audit a stored dataset version: leakage between splits and suspected label errors.

Label errors are found in the confident-learning style with cleanlab: out-of-fold predicted
probabilities (k-fold logistic regression on the frozen encoder's cached embeddings) are handed
to ``cleanlab.filter.find_label_issues``; the rows it flags are listed with the label the model
suggests and cleanlab's self-confidence score.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from modelmint.data.audit import normalise, text_digest
from modelmint.errors import InvalidInput
from modelmint.modeling import EmbeddingCache, embed_with_cache, get_encoder
from modelmint.types import Example

Progress = Callable[[str, int, int], None]


def leakage(examples: list[Example]) -> dict[str, Any]:
    """Texts that appear, exactly or after normalisation, in more than one split.

    Rows are numbered by their line in the version file (1-based)."""
    exact: dict[bytes, list[tuple[int, str]]] = defaultdict(list)
    near: dict[bytes, list[tuple[int, str]]] = defaultdict(list)
    for i, e in enumerate(examples, 1):
        key = e.input_key()
        exact[text_digest(key)].append((i, e.split))
        near[text_digest(normalise(key))].append((i, e.split))

    def spanning(groups: dict[bytes, list[tuple[int, str]]]) -> list[dict[str, Any]]:
        return [
            {"rows": [r for r, _ in g][:10], "splits": sorted({s for _, s in g})}
            for g in groups.values()
            if len({s for _, s in g}) > 1
        ]

    ex, nr = spanning(exact), spanning(near)
    return {"exact": len(ex), "near": len(nr), "exact_examples": ex[:20], "near_examples": nr[:20]}


def label_issues(
    examples: list[Example],
    *,
    base_model: str,
    max_tokens: int = 128,
    cache: EmbeddingCache | None = None,
    folds: int = 5,
    seed: int = 0,
    limit: int = 50,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Suspected label errors over all splits, ranked most suspicious first."""
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    labels = sorted({e.label for e in examples})
    y = np.array([labels.index(e.label) for e in examples])
    counts = np.bincount(y, minlength=len(labels))
    k = int(min(folds, counts.min()))
    if k < 2:
        raise InvalidInput(
            "finding label errors needs at least 2 examples of every class; add examples"
        )
    encoder = get_encoder(base_model)
    x, _, _ = embed_with_cache(
        encoder,
        [e.text for e in examples],
        max_tokens,
        cache,
        progress=(lambda d, t: progress("embedding", d, t)) if progress else None,
    )
    clf = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced", random_state=seed)
    probs = cross_val_predict(
        clf,
        x,
        y,
        cv=StratifiedKFold(n_splits=k, shuffle=True, random_state=seed),
        method="predict_proba",
    )
    # n_jobs=1: cleanlab's default forks a multiprocessing pool, and a fork of a process with
    # live native threads (jemalloc, OpenMP) can deadlock in the child - seen in CI
    ranked = find_label_issues(y, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    issues = [
        {
            "row": int(i) + 1,
            "text": examples[i].text[:200],
            "split": examples[i].split,
            "given": examples[i].label,
            "suggested": labels[int(probs[i].argmax())],
            "confidence_in_given": round(float(probs[i, y[i]]), 4),
        }
        for i in ranked
    ]
    return {
        "method": f"cleanlab find_label_issues on {k}-fold out-of-fold probabilities "
        f"({base_model} embeddings + logistic regression)",
        "count": len(issues),
        "share": round(len(issues) / max(len(examples), 1), 4),
        "rows": issues[:limit],
        "all_rows": [it["row"] for it in issues],
    }


def review_version(
    store: Any,
    name: str,
    version: int | None = None,
    *,
    label_errors: bool = False,
    base_model: str = "multilingual-e5-small",
    max_tokens: int = 128,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(row, review) for a stored version; the review is also saved beside the version's file
    (``<hash>.review.json``) so `data clean --drop-label-errors` can act on what was reviewed."""
    import json
    from pathlib import Path

    from modelmint.data.snapshot import read_examples

    row = store.datasets.get(name, version)
    path = Path(row["path"])
    examples = read_examples(path)
    review: dict[str, Any] = {
        "dataset": f"{row['name']}:{row['version']}",
        "leakage": leakage(examples),
    }
    if any(e.text for e in examples[:100]):
        review["fuzzy_duplicates"] = fuzzy_duplicates(examples)
    if label_errors and row["task"] == "text-classification":
        review["label_issues"] = label_issues(
            examples, base_model=base_model, max_tokens=max_tokens, cache=cache, progress=progress
        )
    saved = path.with_suffix(".review.json")
    if saved.exists() and "label_issues" not in review:
        # keep the label errors a reviewer already looked at: `data clean --drop-label-errors`
        # acts on them
        previous = json.loads(saved.read_text())
        if "label_issues" in previous:
            review["label_issues"] = previous["label_issues"]
    saved.write_text(json.dumps(review, ensure_ascii=False, indent=1))
    return row, review


def fuzzy_duplicates(
    examples: list[Example], *, threshold: float = 0.8, num_perm: int = 64, limit: int = 200_000
) -> dict[str, Any]:
    """Near-duplicates that normalisation misses (a word changed, a phrase added): MinHash over
    character 3-grams with LSH (datasketch), Jaccard >= `threshold`. Rows beyond `limit` are not
    searched (said in the result)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    pairs: list[dict[str, Any]] = []
    n_pairs = 0
    searched = min(len(examples), limit)
    for i, e in enumerate(examples[:searched], 1):
        t = normalise(e.text)
        if len(t) < 8:  # too short for shingles to mean anything
            continue
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([t[j : j + 3].encode("utf-8") for j in range(len(t) - 2)])
        hits = lsh.query(m)
        if hits:
            n_pairs += 1
            if len(pairs) < 50:
                first = min(hits)
                ex = examples[first - 1]
                pairs.append(
                    {
                        "rows": [first, i],
                        "splits": sorted({ex.split, e.split}),
                        "labels": [ex.label, e.label],
                    }
                )
        lsh.insert(i, m)
    return {
        "method": f"MinHash LSH, character 3-grams, Jaccard >= {threshold}",
        "rows_with_a_near_duplicate": n_pairs,
        "cross_split": sum(1 for p in pairs if len(p["splits"]) > 1),
        "examples": pairs,
        "searched_rows": searched,
    }
