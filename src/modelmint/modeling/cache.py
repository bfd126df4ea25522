"""A content-addressed embedding cache on disk.

Key: sha256(encoder name, max_tokens, text). Value: float32 bytes. Stored in one SQLite file
(stdlib ``sqlite3``, WAL) under ``HOME/cache``, shared safely by the CLI, workers and servers.
Written by hand because the ready-made disk caches (diskcache, joblib.Memory) pickle their
values, and nothing in ModelMint unpickles. See docs/design.md.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelmint.modeling.encoders import Encoder

ProgressFn = Callable[[int, int], None]


def text_key(encoder: str, max_tokens: int, text: str) -> bytes:
    h = hashlib.sha256()
    h.update(f"{encoder}\x00{max_tokens}\x00".encode())
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.digest()


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        with self._conn() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS embeddings ("
                " key BLOB PRIMARY KEY, dim INTEGER NOT NULL, vec BLOB NOT NULL)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get_many(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        out: dict[bytes, np.ndarray] = {}
        conn = self._conn()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key, dim, vec FROM embeddings WHERE key IN ({','.join('?' * len(chunk))})"
            for key, dim, vec in conn.execute(q, chunk):
                out[key] = np.frombuffer(vec, dtype=np.float32, count=dim)
        return out

    def put_many(self, items: list[tuple[bytes, np.ndarray]]) -> None:
        with self._conn() as c:
            c.executemany(
                "INSERT OR IGNORE INTO embeddings (key, dim, vec) VALUES (?, ?, ?)",
                [
                    (k, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
                    for k, v in items
                ],
            )

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])


def embed_with_cache(
    encoder: Encoder,
    texts: list[str],
    max_tokens: int,
    cache: EmbeddingCache | None,
    *,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, int, int]:
    """Embed `texts`, reading and filling the cache. Returns (matrix, hits, misses)."""
    tag = encoder.name + getattr(encoder, "cache_tag", "")  # a preprocessing change: new keys
    keys = [text_key(tag, max_tokens, t) for t in texts]
    found = cache.get_many(list(set(keys))) if cache is not None else {}
    todo: dict[bytes, str] = {}
    for k, t in zip(keys, texts, strict=True):
        if k not in found and k not in todo:
            todo[k] = t
    total = len(todo)
    if progress:
        progress(0, total)
    pending = list(todo.items())
    for i in range(0, total, batch_size):
        batch = pending[i : i + batch_size]
        vecs = encoder.embed([t for _, t in batch], max_tokens)
        new = [(k, vecs[j]) for j, (k, _) in enumerate(batch)]
        if cache is not None:
            cache.put_many(new)
        found.update(new)
        if progress:
            progress(min(i + batch_size, total), total)
    hits = len(texts) - sum(1 for k in keys if k in todo)
    matrix = np.stack([found[k] for k in keys]) if keys else np.zeros((0, encoder.dim), np.float32)
    return matrix.astype(np.float32, copy=False), hits, len(todo)
