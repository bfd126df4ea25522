"""`modelmint eval` (report, model card, robustness, comparison), `models compare` and
`models export` (ONNX int8) on real data."""

from __future__ import annotations

import csv
import json

import pytest

from modelmint import data, registry
from modelmint.evaluate.robustness import PERTURBATIONS
from modelmint.pipeline import compare_models, evaluate_full, export_model, train_and_register
from modelmint.train import TrainConfig


def test_full_evaluation_writes_report_and_card_and_compares_with_production(ws, trained):
    # a second version with another head strength, compared with production on the same split
    v2 = train_and_register(ws, "reviews", config=TrainConfig(c_values=(0.05,)))
    ev = evaluate_full(ws, v2.model.ref)
    assert ev.comparison is not None and ev.comparison.production == trained.report.accuracy
    assert "McNemar" in ev.comparison.reason
    r = ev.robustness
    assert r["n"] == trained.report.n and set(r["perturbations"]) == {
        "homophones",
        "shape-alike characters",
        "traditional/simplified",
        "punctuation",
    }  # Chinese: no casing, no keyboard typos or word drops
    trad = r["perturbations"]["traditional/simplified"]
    assert trad["changed"] > 0 and trad["example"] != ""
    page = ev.html_path.read_text()
    assert page.count("<svg") >= 3 and "Against production" in page and "Robustness" in page
    card = ev.card_path.read_text()
    assert card.startswith(f"# Model card: {v2.model.ref}") and "| accuracy |" in card
    out = ev.to_dict()
    assert json.dumps(out) and out["comparison"]["candidate"] == v2.report.accuracy


def test_perturbations_do_what_they_say():
    import random

    rng = random.Random(0)
    assert PERTURBATIONS["casing"]("Great Film", rng) in ("GREAT FILM", "great film")
    assert PERTURBATIONS["punctuation"]("good, very good!", rng) == "good very good"
    assert PERTURBATIONS["traditional/simplified"]("这个质量很好", rng) == "這個質量很好"
    assert (
        PERTURBATIONS["keyboard typos"]("a long enough sentence", rng) != "a long enough sentence"
    )


def _english(ws, tmp_path):
    rows = [
        (s, "pos")
        for s in (
            "a great film",
            "wonderful and moving",
            "i loved it",
            "superb acting",
            "brilliant fun",
        )
    ] + [
        (s, "neg")
        for s in ("a dull mess", "boring and long", "i hated it", "awful acting", "tedious stuff")
    ]
    path = tmp_path / "en.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for k in range(5):
            w.writerows([(f"{t}{' really' * k}", lab) for t, lab in rows])
    data.add_dataset(
        ws.store, ws.settings.datasets_dir, "en", path, validation_size=0.2, test_size=0.3
    )


def test_onnx_int8_export_is_a_new_version_with_measured_change(ws, tmp_path):
    _english(ws, tmp_path)
    src = train_and_register(
        ws, "en", config=TrainConfig(base_model="all-MiniLM-L6-v2", max_tokens=32)
    )
    out = export_model(ws, src.model.ref, int8=True)
    assert out["model"] == "en:2" and out["format"] == "onnx int8"
    assert out["bytes_after"] < out["bytes_before"] / 2  # int8 weights, no separate encoder copy
    assert abs(out["accuracy_change"]) <= 0.2 and out["agreement"] >= 0.8
    mref, model = registry.load(ws.store, "en:2")
    assert model.kind == "onnx" and mref.metrics["export"]["source"] == "en:1"
    preds = model.predict(["a great film", "a dull mess"])
    assert [p.label for p in preds] == ["pos", "neg"]
    cmp = compare_models(ws, "en:1", "en:2")
    assert cmp["a"]["model"] == "en:1" and "decision" in cmp


def test_export_refuses_what_it_cannot_export(ws, trained):
    from modelmint.errors import InvalidInput

    with pytest.raises(InvalidInput, match="cannot be fine-tuned"):  # the 4-bit e5 head
        export_model(ws, trained.model.ref)
    assert [m.version for m in registry.list_models(ws.store, "reviews")] == [1]
