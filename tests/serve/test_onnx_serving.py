"""The server on ONNX Runtime (serve_runtime=onnx, the default and B1's configuration): a head
on all-MiniLM-L6-v2 is answered over HTTP by the exported graph, not by a silent fallback to
torch, and the answers match the torch server's."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from fastapi.testclient import TestClient

from modelmint import billing, data, registry
from modelmint.modeling import MINILM
from modelmint.pipeline import train_and_register
from modelmint.serve import create_app
from modelmint.train import TrainConfig

URL = "/v1/scenarios/en/predict"
TEXTS = ["i loved every minute of it", "a dull mess", "wonderful acting", "boring and long"]
SCORE_TOL = 1e-5  # measured difference ~1e-7 (tests/modeling/test_onnx_parity.py)


@pytest.fixture
def english(ws, english_csv):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    data.add_dataset(ws.store, ws.settings.datasets_dir, "en", english_csv)
    out = train_and_register(ws, "en", config=TrainConfig(base_model=MINILM, max_tokens=32))
    registry.promote(ws.store, out.model.ref)
    billing.create_plan(ws.store, "p", price_per_1k="1.00")
    billing.create_tenant(ws.store, "acme", plan="p")
    return {"Authorization": f"Bearer {billing.create_key(ws.store, 'acme')[0]}"}


def _serve(ws, headers, runtime: str):
    """One predict call on a server with `runtime`: (response body, the encoder that served)."""
    settings = ws.settings.model_copy(update={"serve_runtime": runtime})
    with TestClient(create_app(settings, ws.store)) as c:
        r = c.post(URL, json={"inputs": TEXTS}, headers=headers)
        assert r.status_code == 200, r.text
        serving = c.app.state.pool.current("en")
        assert serving is not None and serving.shared  # a head on the shared encoder
        return r.json(), serving.model.encoder


def test_onnx_runtime_serves_predictions_over_http(ws, english, monkeypatch, caplog):
    from modelmint.modeling.encoders import OnnxEncoder

    calls: list[list[str]] = []
    real_embed = OnnxEncoder.embed

    def counted(self, texts, max_tokens):
        calls.append(list(texts))
        return real_embed(self, texts, max_tokens)

    monkeypatch.setattr(OnnxEncoder, "embed", counted)
    with caplog.at_level(logging.WARNING, logger="modelmint.modeling.encoders"):
        body, encoder = _serve(ws, english, "onnx")
    # the ONNX graph served: the encoder is ONNX Runtime's, exported into this home's cache,
    # its torch weights dropped, and the request's texts went through its session
    assert isinstance(encoder, OnnxEncoder) and encoder.runtime == "onnx"
    assert encoder.graph.is_file()
    assert encoder.graph.is_relative_to(ws.settings.cache_dir / "onnx")
    assert not hasattr(encoder, "_model")
    assert any(sorted(c) == sorted(TEXTS) for c in calls), calls
    assert "ONNX Runtime unavailable" not in caplog.text  # no fallback to torch
    assert body["model"] == "en:1"

    # the torch server answers the same (and says it is torch: the check above can fail)
    reference, torch_encoder = _serve(ws, english, "torch")
    assert torch_encoder.runtime == "torch" and not isinstance(torch_encoder, OnnxEncoder)
    labels = [p["label"] for p in body["predictions"]]
    assert labels == [p["label"] for p in reference["predictions"]]
    assert labels == ["pos", "neg", "pos", "neg"]
    onnx_scores = np.array([[p["scores"][k] for k in ("pos", "neg")] for p in body["predictions"]])
    torch_scores = np.array(
        [[p["scores"][k] for k in ("pos", "neg")] for p in reference["predictions"]]
    )
    assert float(np.abs(onnx_scores - torch_scores).max()) < SCORE_TOL
