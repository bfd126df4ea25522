"""ONNX Runtime computes what torch computes: the server's encoder (`OnnxEncoder`, the
serve_runtime=onnx path that B1 measures) against the torch encoder it was exported from, and
an exported classifier (`registry.export`, kind onnx) against the head it was exported from.

The tolerances are measured, not guessed. On all-MiniLM-L6-v2 (CPU, fp32, opset 17, torch
2.13, transformers 5.24, onnxruntime 1.32) over the texts below (padded batches, an empty text,
full-width letters and a truncated text included) the largest absolute difference was 2.6e-7
per embedding component (the same at max_tokens 16, 64 and 128 and at 1 or 2 intra-op threads;
one text at a time against the padded batch: 4.5e-8) and 8.1e-8 per class probability of the
exported classifier. The bounds, 1e-5 for both, leave ~40x and ~120x room for another CPU's
kernels, and sit four orders of magnitude below the distance between two different texts
(~0.2); the predicted labels must be identical."""

from __future__ import annotations

import numpy as np
import pytest

from modelmint import data, registry
from modelmint.modeling import MINILM, load_model_dir
from modelmint.pipeline import train_and_register
from modelmint.train import TrainConfig

EMBEDDING_TOL = 1e-5
PROBABILITY_TOL = 1e-5

TEXTS = [
    "a great film",
    "a dull mess that goes on and on without a single idea worth the ticket",
    "",
    "Ｆｕｌｌ-width letters, digits ０１２ and émigré accents",
    "i hated it",
    "wonderful acting throughout, the best movie this year " * 20,  # past the token window
    "boring",
]


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    """The torch encoder and the ONNX one exported from it (one export for the module)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from modelmint.modeling.encoders import HFEncoder, OnnxEncoder, hf_path

    path = hf_path(MINILM)
    cache = tmp_path_factory.mktemp("onnx-cache")
    return HFEncoder(MINILM, path), OnnxEncoder(MINILM, path, cache, threads=1)


def test_onnx_encoder_embeds_like_torch(encoders):
    torch_enc, onnx_enc = encoders
    assert (torch_enc.runtime, onnx_enc.runtime) == ("torch", "onnx")
    assert onnx_enc.graph.is_file()
    for max_tokens in (16, 64, 128):
        a = torch_enc.embed(TEXTS, max_tokens)
        b = onnx_enc.embed(TEXTS, max_tokens)
        assert a.shape == b.shape == (len(TEXTS), 384) and b.dtype == np.float32
        diff = float(np.abs(a - b).max())
        assert diff < EMBEDDING_TOL, f"max |torch - onnx| = {diff:.2e} at max_tokens={max_tokens}"
        # one text at a time (no padding) gives the same vectors as the padded batch
        alone = np.concatenate([onnx_enc.embed([t], max_tokens) for t in TEXTS])
        assert float(np.abs(alone - b).max()) < EMBEDDING_TOL
    # the check can fail: two different texts are far apart at this scale
    assert float(np.abs(a[0] - a[1]).max()) > 1000 * EMBEDDING_TOL


def test_exported_classifier_predicts_like_the_head(ws, english_csv, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from modelmint.registry.export import export_onnx

    data.add_dataset(ws.store, ws.settings.datasets_dir, "en", english_csv)
    out = train_and_register(ws, "en", config=TrainConfig(base_model=MINILM, max_tokens=32))
    _, head = registry.load(ws.store, out.model.ref)
    assert head.kind == "linear-head" and head.encoder.runtime == "torch"  # type: ignore[attr-defined]
    config = export_onnx(head, tmp_path / "onnx-model", int8=False)
    assert config["kind"] == "onnx" and config["onnx"]["quantization"] == "none"
    exported = load_model_dir(tmp_path / "onnx-model")
    assert exported.kind == "onnx"

    texts = [*TEXTS, "i loved every minute", "awful acting everywhere"]
    p_torch = head.outputs(texts)
    p_onnx = exported.outputs(texts)
    assert p_torch.shape == p_onnx.shape == (len(texts), 2)
    diff = float(np.abs(p_torch - p_onnx).max())
    assert diff < PROBABILITY_TOL, f"max |p_torch - p_onnx| = {diff:.2e}"
    labels = [p.label for p in head.predict(texts)]
    assert labels == [p.label for p in exported.predict(texts)]
    assert {"pos", "neg"} <= set(labels)  # both classes predicted: a parity that can fail
