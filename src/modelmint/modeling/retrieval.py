"""FAQ answering by retrieval: the known questions are embedded once; a new question gets the
answer of its nearest known questions (cosine similarity), with the similarity as its score.
New answers need no retraining - only new questions in the index. The encoder is a shared
built-in one (``head``) or a copy fine-tuned on question pairs (``full``), stored under
``encoder/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelmint.modeling.base import Model
from modelmint.modeling.cache import embed_with_cache
from modelmint.modeling.encoders import Encoder, get_encoder
from modelmint.types import Prediction

ENCODER_DIR = "encoder"
TOP_K = 5


class RetrievalModel(Model):
    kind = "retrieval"

    def __init__(
        self,
        path: Path,
        config: dict[str, Any],
        encoder: Encoder,
        index: np.ndarray,
        answer_ids: np.ndarray,
    ) -> None:
        super().__init__(path, config)
        self.encoder = encoder
        self.index = index  # (n_questions, dim), L2-normalised
        self.answer_ids = answer_ids  # (n_questions,) index into labels (the answers)

    def outputs(self, inputs: list[Any], cache: Any = None, progress: Any = None) -> Any:
        """(n, n_answers): each answer's best cosine similarity to the query."""
        q = embed_with_cache(self.encoder, list(inputs), self.max_tokens, cache, progress=progress)[
            0
        ]
        sims = q @ self.index.T
        out = np.full((len(inputs), len(self.labels)), -1.0)
        for a in range(len(self.labels)):
            cols = self.answer_ids == a
            if cols.any():
                out[:, a] = sims[:, cols].max(axis=1)
        return out

    def to_predictions(self, outputs: Any, inputs: list[Any] | None = None) -> list[Prediction]:
        preds = []
        for row in outputs:
            top = np.argsort(-row)[:TOP_K]
            preds.append(
                Prediction(
                    label=self.labels[int(top[0])],
                    score=float(row[top[0]]),
                    scores={self.labels[int(i)]: float(row[i]) for i in top},
                )
            )
        return preds

    def explain(self, value: Any, top_k: int = 8) -> list[dict[str, Any]]:
        """The known questions closest to this one, with their similarity."""
        q = embed_with_cache(self.encoder, [str(value)], self.max_tokens, None)[0][0]
        sims = self.index @ q
        questions = self.config.get("questions", [])
        order = np.argsort(-sims)[:top_k]
        return [
            {
                "feature": questions[i] if i < len(questions) else f"question {i}",
                "weight": round(float(sims[i]), 6),
            }
            for i in order
        ]


def load_retrieval(path: Path, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Model:
    encoder = (
        get_encoder(str(path / ENCODER_DIR))
        if (path / ENCODER_DIR).is_dir()
        else get_encoder(config["base_model"])
    )
    return RetrievalModel(path, config, encoder, tensors["index"], tensors["answer_ids"])
