"""--method lora's defaults (chosen on validation by benchmarks/lora_defaults.py), its linear
probe and its adapter targets. Cheap: no full training except the one `slow` test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelmint.train import TrainConfig
from modelmint.train.config import LORA_EPOCHS, LORA_LEARNING_RATE
from modelmint.train.finetune import fit_probe, output_layer

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "lora_defaults.json"


def test_the_defaults_are_the_candidate_chosen_on_validation():
    """The code's defaults are what the last recorded sweep chose, so neither drifts alone."""
    doc = json.loads(RESULTS.read_text())
    chosen = [inv["chosen"] for inv in doc["invocations"] if "chosen" in inv][-1]["settings"]
    d = TrainConfig(method="lora")
    assert d.lora_r == chosen["lora_r"]
    assert d.lora_head_init == chosen["lora_head_init"]
    assert d.batch_size == chosen["batch_size"] and d.patience == chosen["patience"]
    assert d.epochs_for(LORA_EPOCHS) == chosen["epochs"]
    assert (d.learning_rate or LORA_LEARNING_RATE) == chosen["learning_rate"]


def test_an_unknown_head_init_is_refused():
    from modelmint.errors import InvalidInput

    with pytest.raises(InvalidInput, match="probe or random"):
        TrainConfig(method="lora", lora_head_init="zeros")  # type: ignore[arg-type]


def _blobs(k: int, n: int, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (k, d))
    y = np.tile(np.arange(k), n)
    return centres[y] + rng.normal(0, 1, (k * n, d)), y


def test_the_probe_is_a_working_classifier_in_the_output_layers_shape():
    x, y = _blobs(5, 50)
    x, y, xv, yv = x[:200], y[:200], x[200:], y[200:]
    weight, bias, metrics = fit_probe(x, y, xv, yv, 5, TrainConfig(method="lora"))
    assert weight.shape == (5, 16) and bias.shape == (5,)
    assert ((xv @ weight.T + bias).argmax(1) == yv).mean() == pytest.approx(
        metrics["probe_accuracy"], abs=1e-6
    )
    assert metrics["probe_accuracy"] > 0.9


def test_a_binary_probe_gives_two_opposite_logits():
    x, y = _blobs(2, 40)
    weight, bias, metrics = fit_probe(x, y, x, y, 2, TrainConfig(method="lora"))
    assert weight.shape == (2, 16)
    np.testing.assert_allclose(weight[0], -weight[1])
    assert ((x @ weight.T + bias).argmax(1) == y).mean() == metrics["probe_accuracy"]


def _tiny_bert(num_labels: int):
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=num_labels,
    )
    return BertForSequenceClassification(cfg)


def test_the_output_layer_is_the_classifier_and_adapters_cover_every_other_linear_layer():
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    net = _tiny_bert(3)
    assert output_layer(net, 3) is net.classifier
    linear = {n for n, m in net.named_modules() if isinstance(m, torch.nn.Linear)}
    peft_net = get_peft_model(
        net, LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules="all-linear")
    )
    adapted = {
        n.removeprefix("base_model.model.").removesuffix(".lora_A")
        for n, _ in peft_net.named_modules()
        if n.endswith(".lora_A")
    }
    assert adapted == linear - {"classifier"}
    assert "bert.pooler.dense" in adapted and "bert.encoder.layer.0.intermediate.dense" in adapted


@pytest.mark.slow
def test_lora_starts_from_the_linear_probe(tmp_path):
    """Real bundled MiniLM, tiny data, one epoch: the probe is fitted and recorded."""
    from modelmint.train import train_model
    from modelmint.types import Example

    pos = ["a great film", "wonderful and moving", "i loved it", "superb acting", "a joy"]
    neg = ["a dull mess", "boring and long", "i hated it", "awful acting", "a waste"]
    examples = [
        Example(text=f"{t}{'!' * k}", label=lab, split="train" if k < 3 else "validation")
        for lab, texts in (("pos", pos), ("neg", neg))
        for t in texts
        for k in range(4)
    ]
    cfg = TrainConfig(base_model="all-MiniLM-L6-v2", method="lora", epochs=1, max_tokens=16)
    res = train_model(examples, "text-classification", cfg, tmp_path / "m")
    assert res.validation_metrics["probe_accuracy"] >= 0.8
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["train_config"]["lora_head_init"] == "probe"
