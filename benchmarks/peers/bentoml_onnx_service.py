"""B1 peer (c) on ONNX Runtime: BentoML with adaptive batching, serving the very ONNX graph
ModelMint serves (the directory `modelmint models export NAME:V` writes: model.onnx,
tokenizer/, config.json).

Set up as BentoML's docs describe for ONNX models: the graph is saved to BentoML's Model Store
with `bentoml.onnx.save_model` (the tokenizer as a custom object, labels and max tokens as
metadata), the service declares it at class level with `BentoModel` and opens it with
`bentoml.onnx.load_model` (an `onnxruntime.InferenceSession` on the CPU provider). `predict`
is a batchable API: BentoML's dispatcher merges the `inputs` lists of concurrent requests into
one call (up to B1_MAX_BATCH texts, default 64; B1_MAX_LATENCY_MS, default 60000 as in
BentoML) and splits the returned list back per request: one tokenizer call and one
`session.run` per batch. The session uses ONNX Runtime's defaults except the intra-op thread
count, set like ModelMint's (B1_ORT_THREADS, default all cores; 0: ONNX Runtime's default).

BentoML lives in its own venv (its pins clash with ModelMint's):

    python3 -m venv .venv-bentoml
    .venv-bentoml/bin/pip install bentoml onnx onnxruntime transformers torch==2.13.0

Save the exported graph into a Model Store, then serve:

    BENTOML_HOME=/tmp/bento .venv-bentoml/bin/python benchmarks/peers/bentoml_onnx_service.py \
        save EXPORT_DIR b1-sst2-onnx
    BENTOML_HOME=/tmp/bento B1_BENTO_MODEL=b1-sst2-onnx:latest BENTOML_DO_NOT_TRACK=True \
        .venv-bentoml/bin/bentoml serve bentoml_onnx_service:SentimentOnnx \
        --working-dir benchmarks/peers --port 8004

    curl -s -XPOST localhost:8004/predict -H 'Content-Type: application/json' \
         -d '{"inputs": ["a gorgeous film"]}'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import bentoml
import numpy as np
from bentoml.models import BentoModel

MODEL_TAG = os.environ.get("B1_BENTO_MODEL", "b1-sst2-onnx:latest")
MAX_BATCH = int(os.environ.get("B1_MAX_BATCH", "64"))
MAX_LATENCY_MS = int(os.environ.get("B1_MAX_LATENCY_MS", "60000"))
THREADS = int(os.environ.get("B1_ORT_THREADS", str(os.cpu_count() or 1)))


@bentoml.service(workers=1, traffic={"timeout": 120})
class SentimentOnnx:
    model_ref = BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if THREADS:
            opts.intra_op_num_threads = THREADS
        self.session = bentoml.onnx.load_model(self.model_ref, session_options=opts)
        self.tokenizer = self.model_ref.custom_objects["tokenizer"]
        self.labels = list(self.model_ref.info.metadata["labels"])
        self.max_tokens = int(self.model_ref.info.metadata["max_tokens"])
        self.names = {i.name for i in self.session.get_inputs()}

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, inputs: list[str]) -> list[dict]:
        enc = self.tokenizer(
            inputs, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="np"
        )
        feed = {k: v.astype(np.int64) for k, v in enc.items() if k in self.names}
        logits = self.session.run(["logits"], feed)[0]
        e = np.exp(logits - logits.max(-1, keepdims=True))
        probs = e / e.sum(-1, keepdims=True)
        return [
            {"label": self.labels[int(i)], "score": float(p[int(i)])}
            for i, p in zip(probs.argmax(-1), probs, strict=True)
        ]

    @bentoml.api
    def ping(self) -> dict:
        return {"ok": True}


def save(export_dir: str, name: str) -> str:
    """Save an exported ModelMint ONNX directory to BentoML's Model Store; returns the tag."""
    import onnx
    from transformers import AutoTokenizer

    path = Path(export_dir)
    config = json.loads((path / "config.json").read_text())
    saved = bentoml.onnx.save_model(
        name,
        onnx.load(str(path / "model.onnx")),
        signatures={"run": {"batchable": True}},
        custom_objects={"tokenizer": AutoTokenizer.from_pretrained(str(path / "tokenizer"))},
        metadata={
            "labels": list(config["labels"]),
            "max_tokens": int(config.get("max_tokens", 128)),
            "exported_from": str(path),
            "quantization": (config.get("onnx") or {}).get("quantization", "none"),
        },
    )
    return str(saved.tag)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "save":
        sys.exit(__doc__)
    print(save(sys.argv[2], sys.argv[3]))
