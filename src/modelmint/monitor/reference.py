"""The reference a version's traffic is compared with: a profile of its own data, built once
when the version is trained (``pipeline`` calls :func:`build`), saved beside the model, so a
monitoring report never rescans training data.

What a profile holds (all bounded, whatever the size of the training data):

* **columns**: each monitored column as a sketch: its row count, a seeded sample of at most
  ``SAMPLE`` values, and, over all rows, 200 quantiles and the standard deviation (numeric) or
  the count of every level (categorical). Tabular features are columns; so are the cheap text
  signals (``length`` in characters, ``unknown_tokens``, the share of a text's words that the
  training texts never used, and ``script``, the text's dominant writing system) and the
  model's outputs (``predicted`` class, ``confidence``, regression ``value``), the outputs
  measured on held-out rows where there are enough (training rows are scored too confidently).
* **embedding** (text heads on a shared encoder): the mean and the top ``COMPONENTS``
  principal components of the reference embeddings, and the sample projected on them with its
  residual norm (what the components do not explain: drift in a direction the training data
  never varied in shows there). A served prediction stores the same projection, 33 float16
  values (66 bytes), in the prediction log: :meth:`Reference.encode_embeddings`.
* **tabular** rows are logged as their features in float32 (4 bytes a column; categorical
  levels as their index in the reference, -1 for a level never seen in training).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE_FILE = "reference.json"
EMBEDDING_FILE = "reference.npz"
SAMPLE = 1000  # rows kept per column, and embeddings in the reference sample
COMPONENTS = 32  # principal components kept of an embedding
QUANTILES = 200  # at the midpoints (i + 0.5) / 200: the quantile function, for Wasserstein
VOCABULARY = 20_000  # most frequent training words kept for the unknown-word rate
MAX_TABULAR_COLUMNS = 512  # a logged tabular row is at most 2 KB
_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\d_]+", re.UNICODE)


# --- cheap text signals ----------------------------------------------------------------------
def words(text: str) -> list[str]:
    """Latin-like words (lower-cased) and CJK characters one by one."""
    return _WORD.findall(text.lower())


@lru_cache(maxsize=65536)
def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    try:
        first = unicodedata.name(ch).split(" ", 1)[0]
    except ValueError:
        return "other"
    if first == "CJK":
        return "han"
    if first in ("HIRAGANA", "KATAKANA"):
        return "kana"
    if first in ("LATIN", "CYRILLIC", "ARABIC", "HANGUL", "GREEK", "HEBREW", "DEVANAGARI", "THAI"):
        return first.lower()
    return "other"


def script(text: str) -> str:
    """The writing system most of a text's letters are in ('none' without letters)."""
    counts = Counter(s for s in map(_script, text) if s is not None)
    return counts.most_common(1)[0][0] if counts else "none"


def unknown_share(text: str, vocabulary: frozenset[str]) -> float:
    ws = words(text)
    if not ws:
        return 0.0
    return sum(w not in vocabulary for w in ws) / len(ws)


def text_signals(texts: Sequence[str], vocabulary: frozenset[str]) -> dict[str, list[Any]]:
    return {
        "length": [float(len(t)) for t in texts],
        "unknown_tokens": [unknown_share(t, vocabulary) for t in texts],
        "script": [script(t) for t in texts],
    }


def quantile_points() -> np.ndarray:
    return (np.arange(QUANTILES) + 0.5) / QUANTILES


# --- column sketches -------------------------------------------------------------------------
@dataclass
class Column:
    """One monitored column of the reference, as a bounded sketch."""

    name: str
    kind: str  # numeric | categorical
    n: int  # rows in the whole reference (chooses the test, as Evidently does)
    sample: list[Any]
    quantiles: list[float] | None = None
    std: float | None = None
    counts: dict[str, int] | None = None
    missing: float = 0.0  # share of rows without a value

    @classmethod
    def numeric(cls, name: str, values: Sequence[float], rng: np.random.Generator) -> Column:
        x = np.asarray(values, dtype=np.float64)
        missing = float(np.isnan(x).mean()) if len(x) else 0.0
        x = x[~np.isnan(x)]
        sample = x if len(x) <= SAMPLE else rng.choice(x, SAMPLE, replace=False)
        return cls(
            name,
            "numeric",
            len(x),
            [float(v) for v in sample],
            quantiles=[float(q) for q in np.quantile(x, quantile_points())] if len(x) else [],
            std=float(x.std()) if len(x) else 0.0,
            missing=missing,
        )

    @classmethod
    def categorical(cls, name: str, values: Sequence[Any], rng: np.random.Generator) -> Column:
        present = [str(v) for v in values if v is not None]
        missing = 1 - len(present) / len(values) if len(values) else 0.0
        idx = (
            range(len(present))
            if len(present) <= SAMPLE
            else rng.choice(len(present), SAMPLE, replace=False)
        )
        counts = Counter(present)
        return cls(
            name,
            "categorical",
            len(present),
            [present[i] for i in idx],
            counts=dict(counts.most_common()),
            missing=missing,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Embedding:
    """The reference embeddings' mean and principal components, and the projected sample."""

    mean: np.ndarray  # (d,)
    components: np.ndarray  # (k, d), orthonormal rows
    sample: np.ndarray  # (m, k + 1): projections, then the residual norm

    @classmethod
    def fit(cls, x: np.ndarray, rng: np.random.Generator) -> Embedding:
        """Components fitted on one half of the rows, the sample projected from the other
        half: projections of the very rows a PCA was fitted on carry more variance on its
        components and less residual than any new row, which a domain classifier would
        mistake for drift."""
        x = np.asarray(x)
        order = rng.permutation(len(x))
        half = len(x) // 2
        # only the sampled rows become float64 (a large reference is never copied whole)
        fit_rows = np.asarray(x[order[:half][:SAMPLE]], dtype=np.float64)
        held = np.asarray(x[order[half:][:SAMPLE]], dtype=np.float64)
        mean = fit_rows.mean(axis=0)
        k = max(1, min(COMPONENTS, len(fit_rows) - 1, x.shape[1]))
        _, _, vt = np.linalg.svd(fit_rows - mean, full_matrices=False)
        emb = cls(mean.astype(np.float32), vt[:k].astype(np.float32), np.zeros((0, k + 1)))
        emb.sample = emb.project(held)
        return emb

    @property
    def width(self) -> int:
        return int(self.components.shape[0]) + 1

    def project(self, x: np.ndarray) -> np.ndarray:
        centred = np.asarray(x, dtype=np.float32) - self.mean
        z = centred @ self.components.T
        resid = np.sqrt(np.maximum((centred * centred).sum(axis=1) - (z * z).sum(axis=1), 0.0))
        return np.concatenate([z, resid[:, None]], axis=1)


@dataclass
class Reference:
    task: str
    labels: list[str]
    n: int  # reference rows profiled
    columns: dict[str, Column] = field(default_factory=dict)  # inputs
    outputs: dict[str, Column] = field(default_factory=dict)
    embedding: Embedding | None = None
    vocabulary: frozenset[str] = frozenset()
    features: list[str] = field(default_factory=list)  # tabular column order in a payload

    # --- what a served prediction stores -------------------------------------------------
    @property
    def payload(self) -> str:
        """What the prediction log keeps per prediction: embedding, tabular or nothing."""
        if self.embedding is not None:
            return "embedding"
        return "tabular" if self.features else "none"

    def encode_embeddings(self, x: np.ndarray) -> list[bytes]:
        assert self.embedding is not None
        z = self.embedding.project(x).astype(np.float16)
        return [row.tobytes() for row in z]

    def encode_rows(self, rows: Sequence[dict[str, Any]]) -> list[bytes]:
        out = np.full((len(rows), len(self.features)), np.nan, dtype=np.float32)
        for j, name in enumerate(self.features):
            col = self.columns[name]
            levels = {v: i for i, v in enumerate(col.counts)} if col.kind == "categorical" else None
            for i, r in enumerate(rows):
                v = r.get(name)
                if v is None:
                    continue
                if levels is not None:
                    out[i, j] = levels.get(str(v), -1)
                elif isinstance(v, bool | int | float):
                    out[i, j] = float(v)
                else:
                    # a word in a numeric column: missing, as the model reads it
                    with contextlib.suppress(ValueError):
                        out[i, j] = float(str(v))
        return [row.tobytes() for row in out]

    def decode(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Payloads of this reference back to a matrix (rows of another width are dropped)."""
        if self.payload == "embedding":
            assert self.embedding is not None
            dtype, width = np.float16, self.embedding.width
        else:
            dtype, width = np.float32, len(self.features)
        size = np.dtype(dtype).itemsize * width
        good = [b for b in blobs if b is not None and len(b) == size]
        if not good or width == 0:
            return np.zeros((0, width), dtype=np.float32)
        return np.frombuffer(b"".join(good), dtype=dtype).reshape(-1, width).astype(np.float32)

    def level_names(self, name: str) -> list[str]:
        col = self.columns[name]
        return list(col.counts or {})

    # --- files ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        doc = {
            "format": 1,
            "task": self.task,
            "labels": self.labels,
            "n": self.n,
            "features": self.features,
            "columns": {k: c.to_dict() for k, c in self.columns.items()},
            "outputs": {k: c.to_dict() for k, c in self.outputs.items()},
            "vocabulary": sorted(self.vocabulary),
        }
        (directory / REFERENCE_FILE).write_text(json.dumps(doc, ensure_ascii=False))
        if self.embedding is not None:
            with (directory / EMBEDDING_FILE).open("wb") as fh:
                np.savez_compressed(
                    fh,
                    mean=self.embedding.mean,
                    components=self.embedding.components,
                    sample=self.embedding.sample.astype(np.float32),
                )

    @classmethod
    def load(cls, directory: Path) -> Reference | None:
        """The profile saved with a model, or None for a model trained before profiles."""
        try:
            doc = json.loads((directory / REFERENCE_FILE).read_text())
        except (OSError, ValueError):
            return None
        embedding = None
        npz = directory / EMBEDDING_FILE
        if npz.exists():
            with np.load(npz) as z:
                embedding = Embedding(z["mean"], z["components"], z["sample"])
        return cls(
            task=doc["task"],
            labels=doc["labels"],
            n=doc["n"],
            columns={k: Column(**c) for k, c in doc["columns"].items()},
            outputs={k: Column(**c) for k, c in doc["outputs"].items()},
            embedding=embedding,
            vocabulary=frozenset(doc.get("vocabulary", [])),
            features=doc.get("features", []),
        )


def build(
    task: str,
    labels: list[str],
    inputs: Sequence[Any],
    *,
    training_texts: Sequence[str] = (),
    heldout_texts: Sequence[str] = (),
    embeddings: np.ndarray | None = None,
    outputs: Any = None,
    seed: int = 0,
) -> Reference:
    """Profile the reference rows: `inputs` as served (texts or feature dicts), the model's
    `embeddings` of them (text heads), and the model's raw `outputs` on them (class
    probabilities, or values for regression). `training_texts` make the vocabulary; the
    unknown-word rate's reference is measured on `heldout_texts`, texts the vocabulary was not
    built from (on its own texts it would be zero, and every new text would look drifted)."""
    rng = np.random.default_rng(seed)
    ref = Reference(task=task, labels=list(labels), n=len(inputs))
    if inputs and isinstance(inputs[0], dict):
        names: list[str] = []
        for row in inputs:
            names.extend(k for k in row if k not in names)
        ref.features = names[:MAX_TABULAR_COLUMNS]
        for name in ref.features:
            values = [row.get(name) for row in inputs]
            if any(isinstance(v, str) for v in values):
                ref.columns[name] = Column.categorical(name, values, rng)
            else:
                ref.columns[name] = Column.numeric(
                    name, [math.nan if v is None else float(v) for v in values], rng
                )
    elif inputs and isinstance(inputs[0], str):
        counts = Counter(w for t in training_texts for w in words(t))
        ref.vocabulary = frozenset(w for w, _ in counts.most_common(VOCABULARY))
        signals = text_signals(list(inputs), ref.vocabulary)
        ref.columns["length"] = Column.numeric("length", signals["length"], rng)
        if heldout_texts:
            unknown = [unknown_share(t, ref.vocabulary) for t in heldout_texts]
            ref.columns["unknown_tokens"] = Column.numeric("unknown_tokens", unknown, rng)
        ref.columns["script"] = Column.categorical("script", signals["script"], rng)
    if embeddings is not None and len(embeddings) >= 2:
        ref.embedding = Embedding.fit(embeddings, rng)
    if outputs is not None:
        ref.outputs = output_columns(task, labels, outputs, rng)
    return ref


def output_columns(
    task: str, labels: list[str], outputs: Any, rng: np.random.Generator
) -> dict[str, Column]:
    """The model's outputs as columns: predicted class and confidence, or the value."""
    arr = np.asarray(outputs, dtype=np.float64)
    if arr.ndim == 1:  # regression
        return {"value": Column.numeric("value", arr, rng)}
    if arr.ndim != 2 or not labels:
        return {}
    top = arr.argmax(axis=1)
    return {
        "predicted": Column.categorical("predicted", [labels[i] for i in top], rng),
        "confidence": Column.numeric("confidence", arr.max(axis=1), rng),
    }
