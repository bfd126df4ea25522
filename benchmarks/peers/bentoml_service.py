"""B1 peer (c): BentoML (new-style service) with adaptive batching, serving the same Hugging Face
AutoModelForSequenceClassification directory: one tokenizer call and one forward pass per
batch (padding to the batch's longest) rather than the pipeline's loop over items.

BentoML lives in its own venv (its pins clash with ModelMint's), created once with

    python3 -m venv .venv-bentoml
    .venv-bentoml/bin/pip install bentoml transformers torch==2.13.0

and the service starts with

    B1_MODEL_DIR=DIR BENTOML_DO_NOT_TRACK=True HF_HUB_OFFLINE=1 \
        .venv-bentoml/bin/bentoml serve bentoml_service:Sentiment \
        --working-dir benchmarks/peers --port 8002

    curl -s -XPOST localhost:8002/predict -H 'Content-Type: application/json' \
         -d '{"inputs": ["a gorgeous film"]}'

`predict` is batchable: BentoML's dispatcher merges the `inputs` lists of concurrent requests
into one call (up to B1_MAX_BATCH texts, default 64; B1_MAX_LATENCY_MS, default 60000 as in
BentoML, is the latency above which its dispatcher starts refusing requests with 503), and
splits the returned list back per request.
"""

from __future__ import annotations

import os

import bentoml

MODEL_DIR = os.environ.get("B1_MODEL_DIR", "")
MAX_BATCH = int(os.environ.get("B1_MAX_BATCH", "64"))
MAX_LATENCY_MS = int(os.environ.get("B1_MAX_LATENCY_MS", "60000"))


@bentoml.service(workers=1, traffic={"timeout": 120})
class Sentiment:
    def __init__(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not MODEL_DIR:
            raise RuntimeError("set B1_MODEL_DIR to a transformers sequence-classification dir")
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
        self.model = AutoModelForSequenceClassification.from_pretrained(MODEL_DIR).eval()
        self.labels = self.model.config.id2label

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, inputs: list[str]) -> list[dict]:
        enc = self.tokenizer(
            inputs, padding=True, truncation=True, max_length=128, return_tensors="pt"
        )
        with self.torch.inference_mode():
            probs = self.model(**enc).logits.softmax(-1)
        score, idx = probs.max(-1)
        return [
            {"label": self.labels[int(i)], "score": float(s)}
            for i, s in zip(idx.tolist(), score.tolist(), strict=True)
        ]

    @bentoml.api
    def ping(self) -> dict:
        return {"ok": True}
