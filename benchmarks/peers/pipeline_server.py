"""B1 peer (b): a plain FastAPI + transformers `pipeline` server, the way a user would write it.

One `pipeline("text-classification")` on the CPU, a synchronous endpoint (FastAPI runs it in its
threadpool), one forward pass per request, no batching across requests, no auth, no metering.

    python benchmarks/peers/pipeline_server.py --model DIR --port 8001
    curl -s -XPOST localhost:8001/predict -H 'Content-Type: application/json' \
         -d '{"inputs": ["a gorgeous film"]}'

DIR is a Hugging Face AutoModelForSequenceClassification directory with its tokenizer
(B1_MODEL_DIR in the environment also works).
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline


class PredictRequest(BaseModel):
    inputs: list[str]


def create_app(model_dir: str) -> FastAPI:
    clf = pipeline("text-classification", model=model_dir, device=-1)
    app = FastAPI(title="pipeline peer")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.post("/predict")
    def predict(body: PredictRequest) -> dict:
        # truncation at 128 tokens as ModelMint does (SST-2 sentences are far shorter)
        out = clf(body.inputs, truncation=True, max_length=128)
        return {"predictions": [{"label": o["label"], "score": o["score"]} for o in out]}

    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=os.environ.get("B1_MODEL_DIR"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    a = ap.parse_args()
    if not a.model:
        ap.error("--model DIR (or B1_MODEL_DIR) is required")
    uvicorn.run(create_app(a.model), host=a.host, port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
