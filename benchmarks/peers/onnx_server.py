"""B1 peer (b) on ONNX Runtime: FastAPI + ONNX Runtime, one forward pass per request, serving the
very ONNX graph ModelMint serves (the directory `modelmint models export NAME:V` writes:
model.onnx, tokenizer/, config.json).

The way a user writes it after exporting to ONNX: one `onnxruntime.InferenceSession` and one
tokenizer loaded at start-up, a synchronous endpoint (FastAPI runs it in its threadpool), one
tokenizer call and one `session.run` per request, no batching across requests, no auth, no
metering. The session uses ONNX Runtime's defaults except the intra-op thread count, which is
set like ModelMint's (B1_ORT_THREADS, default: all cores), so the runtime is the same and the
difference is the serving design.

    python benchmarks/peers/onnx_server.py --model DIR --port 8003
    curl -s -XPOST localhost:8003/predict -H 'Content-Type: application/json' \
         -d '{"inputs": ["a gorgeous film"]}'
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import AutoTokenizer


class PredictRequest(BaseModel):
    inputs: list[str]


def load(model_dir: str, threads: int) -> tuple[object, object, list[str], int, set[str]]:
    """(session, tokenizer, labels, max tokens, graph input names) of an exported model dir."""
    path = Path(model_dir)
    config = json.loads((path / "config.json").read_text())
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    tok = AutoTokenizer.from_pretrained(str(path / "tokenizer"))
    names = {i.name for i in sess.get_inputs()}
    return sess, tok, list(config["labels"]), int(config.get("max_tokens", 128)), names


def create_app(model_dir: str, threads: int) -> FastAPI:
    sess, tok, labels, max_tokens, names = load(model_dir, threads)
    app = FastAPI(title="FastAPI + ONNX Runtime peer")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.post("/predict")
    def predict(body: PredictRequest) -> dict:
        enc = tok(
            body.inputs, padding=True, truncation=True, max_length=max_tokens, return_tensors="np"
        )
        feed = {k: v.astype(np.int64) for k, v in enc.items() if k in names}
        logits = sess.run(["logits"], feed)[0]
        e = np.exp(logits - logits.max(-1, keepdims=True))
        probs = e / e.sum(-1, keepdims=True)
        return {
            "predictions": [
                {"label": labels[int(i)], "score": float(p[int(i)])}
                for i, p in zip(probs.argmax(-1), probs, strict=True)
            ]
        }

    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=os.environ.get("B1_ONNX_DIR"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8003)
    ap.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("B1_ORT_THREADS", os.cpu_count() or 1)),
        help="intra-op threads (0: ONNX Runtime's default)",
    )
    a = ap.parse_args()
    if not a.model:
        ap.error("--model DIR (or B1_ONNX_DIR) is required: a `modelmint models export` dir")
    uvicorn.run(create_app(a.model, a.threads), host=a.host, port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
