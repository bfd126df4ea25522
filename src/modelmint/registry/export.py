"""Export for serving: a text classifier becomes one ONNX graph from token ids to logits
(encoder, mean pooling, normalisation and head fused), optionally with dynamic int8
quantization of its weights (onnxruntime.quantization). The result is a new model directory of
kind ``onnx``, registered as a new version like any other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelmint.errors import ConfigError, InvalidInput
from modelmint.modeling import Model, save_model_dir
from modelmint.modeling.encoders import export_graph, hf_path, pooled_module, quiet_transformers
from modelmint.modeling.finetuned import ENCODER_DIR
from modelmint.modeling.onnx import GRAPH, TOKENIZER_DIR


def _module(model: Model) -> tuple[Any, Any]:
    """(torch module: input_ids, attention_mask -> logits, tokenizer)."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    quiet_transformers()
    if model.kind == "transformer":
        src = str(model.path / ENCODER_DIR)
        net = AutoModelForSequenceClassification.from_pretrained(src).eval()

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, input_ids, attention_mask):
                return self.net(input_ids=input_ids, attention_mask=attention_mask).logits

        return Wrapped().eval(), AutoTokenizer.from_pretrained(src)
    if model.kind == "linear-head" and model.task == "text-classification":
        path = hf_path(model.base_model)  # refuses the 4-bit e5 with the fix
        enc = AutoModel.from_pretrained(path).eval()
        fused = pooled_module(enc, model.weight, model.bias)  # type: ignore[attr-defined]
        return fused, AutoTokenizer.from_pretrained(path)
    raise InvalidInput(
        f"ONNX export covers text classifiers on a transformers encoder (method head on "
        f"all-MiniLM-L6-v2, lora or full); this model is {model.kind} / {model.task}"
    )


def export_onnx(model: Model, out_dir: Path, *, int8: bool) -> dict[str, Any]:
    """Write an ``onnx`` model directory for `model` into `out_dir`."""

    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "export needs onnx and onnxruntime; `pip install onnx onnxruntime`"
        ) from exc
    module, tok = _module(model)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fp32 = out_dir / ("model.fp32.onnx" if int8 else GRAPH)
    export_graph(module, tok, fp32, "logits")
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(out_dir / GRAPH), weight_type=QuantType.QInt8)
        fp32.unlink()
    tok.save_pretrained(str(out_dir / TOKENIZER_DIR))
    config = {
        k: v
        for k, v in model.config.items()
        if k not in ("kind", "metrics", "lineage", "selection_curve")
    }
    temperature = float(model.config.get("temperature", 1.0))
    if model.kind == "linear-head":
        temperature = 1.0  # the head's weights already carry the calibration
    config.update(
        kind="onnx",
        temperature=temperature,
        onnx={"quantization": "dynamic int8" if int8 else "none", "opset": 17},
        exported_from=model.config.get("lineage", {}).get("model") or str(model.path),
        max_tokens=model.max_tokens,
    )
    save_model_dir(out_dir, config=config)
    return json.loads((out_dir / "config.json").read_text())
