"""Every task type end to end on real bundled data: data add -> train -> evaluate -> register ->
promote -> predict (and explain) over HTTP, in-process."""

from __future__ import annotations

import base64
import csv
import json

import numpy as np
import pytest

from modelmint import billing, data, registry
from modelmint.errors import InvalidInput
from modelmint.pipeline import evaluate_ref, train_and_register
from modelmint.train import TrainConfig


def _add(ws, name, path, **kw):
    return data.add_dataset(ws.store, ws.settings.datasets_dir, name, path, **kw)


def _sklearn_csv(path, loader, rename=None):
    frame = loader(as_frame=True).frame
    if rename:
        frame = rename(frame)
    frame.to_csv(path, index=False)
    return path


def test_tabular_classification_lightgbm_with_categoricals_and_shap(ws, tmp_path, client_for):
    from sklearn.datasets import load_breast_cancer

    def with_category(f):
        f = f.copy()
        # a real categorical column derived from the data, so LightGBM's categorical path runs
        f["size_band"] = np.where(f["mean radius"] > 15, "large", "small")
        return f

    path = _sklearn_csv(tmp_path / "bc.csv", load_breast_cancer, with_category)
    _add(ws, "cancer", path, label="target", features=["all"])
    out = train_and_register(ws, "cancer")
    cfg = json.loads((out.model.path / "config.json").read_text())
    assert cfg["kind"] == "lightgbm" and "size_band" in cfg["schema"]["levels"]
    assert out.report.accuracy > 0.9 and out.report.extra["roc_auc"] > 0.95
    assert out.report.accuracy > out.report.extra["baseline"]["accuracy"]
    assert cfg["learning_curve"] and (out.model.path / "model.txt").is_file()
    assert "lineage" in cfg and cfg["lineage"]["dataset"] == "cancer:1"
    # the same command gives the same metrics (seeded, deterministic LightGBM)
    again = train_and_register(ws, "cancer")
    assert again.report.accuracy == out.report.accuracy
    registry.promote(ws.store, out.model.ref)
    row = {k: v for k, v in data.read_examples(out.dataset.path)[0].features.items()}
    with client_for() as c:
        r = c.post("/v1/scenarios/cancer/predict", json={"inputs": [row], "explain": True})
        assert r.status_code == 200, r.text
        p = r.json()["predictions"][0]
        assert p["label"] in ("0", "1") and len(p["explanation"]) == 8
        assert {"feature", "weight", "value"} <= set(p["explanation"][0])
        # a text sent to a tabular scenario, and an unknown feature: 422 naming the fix
        r = c.post("/v1/scenarios/cancer/predict", json={"inputs": ["hello"]})
        assert r.status_code == 400 and "object of features" in r.text
        r = c.post("/v1/scenarios/cancer/predict", json={"inputs": [{"nope": 1}]})
        assert r.status_code == 400 and "unknown feature" in r.text
        # each feature is checked against the training schema: 400 naming it, nothing billed
        for bad, says in [
            ({"mean radius": "fifty"}, "feature 'mean radius' is 'fifty'; it is numeric"),
            ({"mean radius": True}, "feature 'mean radius' is True; it is numeric"),
            ({"size_band": "medium"}, "'medium', a category training never saw; send one of"),
            ({"size_band": None}, "feature 'size_band' is missing; it was never missing"),
            ({k: v for k, v in row.items() if k != "mean area"}, "'mean area' is missing"),
        ]:
            r = c.post("/v1/scenarios/cancer/predict", json={"inputs": [{**row, **bad}]})
            if "mean area" not in says:
                assert r.status_code == 400 and says in r.json()["error"], (bad, r.text)
            else:
                r = c.post("/v1/scenarios/cancer/predict", json={"inputs": [bad]})
                assert r.status_code == 400 and says in r.json()["error"], r.text
        # a number sent as a numeric string is fine
        r = c.post(
            "/v1/scenarios/cancer/predict", json={"inputs": [{**row, "mean radius": "20.5"}]}
        )
        assert r.status_code == 200, r.text
    by_type = {
        r["unit_type"]: r["units"]
        for r in ws.store.billing.usage_by_scenario(billing.current_period())
    }
    assert by_type == {"explain": 1, "predict": 2}


def test_tabular_regression_metrics_and_mean_baseline(ws, tmp_path, client_for):
    from sklearn.datasets import load_diabetes

    _add(
        ws,
        "diabetes",
        _sklearn_csv(tmp_path / "d.csv", load_diabetes),
        target="target",
        features=["all"],
    )
    out = train_and_register(ws, "diabetes")
    m = out.report.metrics
    assert set(m) >= {"mae", "rmse", "r2", "mape", "mae_ci95"}
    assert m["mae"] < out.report.extra["baseline"]["mae"] and m["r2"] > 0.2
    assert out.report.primary == "mae" and not out.report.higher_is_better
    registry.promote(ws.store, out.model.ref)
    feats = data.read_examples(out.dataset.path)[0].features
    with client_for() as c:
        p = c.post("/v1/scenarios/diabetes/predict", json={"inputs": [feats]}).json()[
            "predictions"
        ][0]
        assert isinstance(p["value"], float) and 20 < p["value"] < 400
        # a regression answer carries its value; score and scores do not apply and are left
        # out, label stays (the value as text) for clients written before `value`
        assert set(p) == {"id", "value", "label"} and float(p["label"]) == round(p["value"], 3)
        # a number is regression feedback (retraining learns from it); a word is refused
        fb = {"prediction_id": p["id"], "label": "151.0"}
        assert c.post("/v1/feedback", json=fb).status_code == 201
        r = c.post("/v1/feedback", json={**fb, "label": "high"})
        assert r.status_code == 400 and "not a number" in r.text


def test_entities_crf_span_f1_chinese_by_character(ws, tmp_path, client_for):
    rows = data.peoples_daily_ner(600)
    path = tmp_path / "pd.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    _add(ws, "ner", path, tokens="tokens", tags="tags")
    out = train_and_register(ws, "ner")
    m = out.report.metrics
    assert out.report.task == "token-classification" and m["span_f1"] > 0.5
    assert {"PER", "LOC"} <= set(out.report.per_class)
    registry.promote(ws.store, out.model.ref)
    with client_for() as c:
        r = c.post(
            "/v1/scenarios/ner/predict",
            json={"inputs": ["江泽民主席在北京会见了美国总统。", ["中国", "政府", "发表", "声明"]]},
        )
        assert r.status_code == 200, r.text
        ents = r.json()["predictions"][0]["entities"]
        assert {"type": "LOC", "text": "北京", "start": 6, "end": 8} in ents
        assert any(e["type"] == "PER" for e in ents)
        pid = r.json()["predictions"][0]["id"]
        r = c.post("/v1/feedback", json={"prediction_id": pid, "label": "LOC"})
        assert r.status_code == 400 and "--rows" in r.text
        r = c.post("/v1/scenarios/ner/predict", json={"inputs": [{"a": 1}]})
        assert r.status_code == 400 and "list of token strings" in r.text


def test_images_cnn_from_scratch_resume_and_base64_serving(ws, tmp_path, digits_folder, client_for):
    folder = digits_folder(tmp_path / "digits", per_class=40)
    _add(ws, "digits", folder)
    cfg = TrainConfig(epochs=12, patience=12)
    out = train_and_register(ws, "digits", config=cfg)
    assert out.report.accuracy > 0.8  # 3 digit classes, 84 training images
    assert (out.model.path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert not list((ws.settings.home / "runs").glob("digits-*"))  # registered: no checkpoint left
    registry.promote(ws.store, out.model.ref)
    img = next((folder / "digit2").iterdir()).read_bytes()
    with client_for() as c:
        r = c.post(
            "/v1/scenarios/digits/predict",
            json={"inputs": [base64.b64encode(img).decode()], "explain": True},
        )
        assert r.status_code == 200, r.text
        assert r.json()["predictions"][0]["label"] == "digit2"
        r = c.post("/v1/scenarios/digits/predict", json={"inputs": ["not base64!"]})
        assert r.status_code == 400 and "base64" in r.text
        r = c.post(
            "/v1/scenarios/digits/predict",
            json={"inputs": [base64.b64encode(b"GIF89a junk").decode()]},
        )
        assert r.status_code == 400 and "image" in r.text


def test_network_training_resumes_from_its_last_epoch(ws, tmp_path, digits_folder, monkeypatch):
    """An interrupted run leaves a checkpoint and no registered version; the same command then
    continues from the next epoch."""
    from modelmint.train import loop

    _add(ws, "digits", digits_folder(tmp_path / "digits", per_class=20))
    real_fit = loop.fit
    calls = {"n": 0}

    def interrupted(net, **kw):
        def evaluate():
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return kw["evaluate_real"]()

        kw["evaluate_real"] = kw.pop("evaluate")
        return real_fit(
            net, evaluate=evaluate, **{k: v for k, v in kw.items() if k != "evaluate_real"}
        )

    monkeypatch.setattr(loop, "fit", interrupted)
    cfg = TrainConfig(epochs=5, patience=5)
    with pytest.raises(KeyboardInterrupt):
        train_and_register(ws, "digits", config=cfg)
    assert registry.list_models(ws.store, "digits") == []
    assert not list((ws.settings.models_dir / "digits").glob(".staging-*"))
    ckpt = next((ws.settings.home / "runs").glob("digits-*"))
    assert json.loads((ckpt / "loop.json").read_text())["epoch"] == 2
    monkeypatch.setattr(loop, "fit", real_fit)
    out = train_and_register(ws, "digits", config=cfg)
    cfg_saved = json.loads((out.model.path / "config.json").read_text())
    assert cfg_saved["resumed"] is True and len(cfg_saved["learning_curve"]) == 5


def test_multilabel_and_text_regression_heads(ws, tmp_path, review_rows, client_for):
    path = tmp_path / "ml.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "praise", "complaint", "stars"])
        for i, r in enumerate(review_rows):
            pos = r["label"] == "pos"
            mixed = i % 7 == 0
            w.writerow([r["text"], int(pos or mixed), int(not pos or mixed), 4.5 if pos else 1.5])
    _add(ws, "tags", path, label=["praise", "complaint"])
    out = train_and_register(ws, "tags")
    assert out.report.task == "multi-label" and out.report.metrics["micro_f1"] > 0.6
    cfg = json.loads((out.model.path / "config.json").read_text())
    assert len(cfg["thresholds"]) == 2
    registry.promote(ws.store, out.model.ref)
    _add(ws, "stars", path, target="stars")
    reg = train_and_register(ws, "stars")
    assert reg.report.metrics["mae"] < reg.report.extra["baseline"]["mae"]
    registry.promote(ws.store, reg.model.ref)
    with client_for() as c:
        p = c.post("/v1/scenarios/tags/predict", json={"inputs": ["质量很好，很满意"]}).json()
        assert p["predictions"][0]["labels"] == ["praise"]
        p = c.post(
            "/v1/scenarios/stars/predict", json={"inputs": ["太差了，要退货"], "explain": True}
        ).json()
        pred = p["predictions"][0]
        assert pred["value"] < 3.0 and pred["explanation"][0]["feature"]


@pytest.mark.slow
def test_lora_and_full_fine_tune_on_minilm(ws, tmp_path):
    """English sentences (the bundled MiniLM is English-only), both fine-tuning methods."""
    rows = [
        (s, "pos")
        for s in (
            "a great film",
            "wonderful and moving",
            "i loved it",
            "superb acting",
            "brilliant and fun",
            "a joy to watch",
        )
    ] + [
        (s, "neg")
        for s in (
            "a dull mess",
            "boring and long",
            "i hated it",
            "awful acting",
            "tedious and flat",
            "a waste of time",
        )
    ]
    path = tmp_path / "en.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for k in range(4):
            w.writerows([(f"{t} {'!' * k}".strip(), lab) for t, lab in rows])
    _add(ws, "en", path, validation_size=0.25, test_size=0.25)
    for method in ("lora", "full"):
        cfg = TrainConfig(base_model="all-MiniLM-L6-v2", method=method, epochs=3, max_tokens=32)
        out = train_and_register(ws, "en", config=cfg)
        saved = json.loads((out.model.path / "config.json").read_text())
        assert saved["kind"] == "transformer" and len(saved["learning_curve"]) >= 1
        assert (out.model.path / "encoder" / "model.safetensors").is_file()
        _, again = evaluate_ref(ws, out.model.ref)
        assert again.accuracy == out.report.accuracy


def test_tune_stores_an_optuna_study_in_the_database(ws, tmp_path):
    from sklearn.datasets import load_wine

    _add(ws, "wine", _sklearn_csv(tmp_path / "w.csv", load_wine), label="target", features=["all"])
    out = train_and_register(ws, "wine", tune=3)
    cfg = json.loads((out.model.path / "config.json").read_text())
    assert cfg["tuning"]["trials"] == 3 and set(cfg["tuning"]["best_params"]) == {
        "learning_rate",
        "num_leaves",
    }
    import optuna

    study = optuna.load_study(study_name="wine-1-head", storage=ws.store.db.tuning_storage())
    assert len(study.trials) == 3


def test_bad_training_input(ws, tmp_path):
    from sklearn.datasets import load_wine

    _add(ws, "wine", _sklearn_csv(tmp_path / "w.csv", load_wine), label="target", features=["all"])
    with pytest.raises(InvalidInput, match="fine-tunes a text classifier"):
        train_and_register(
            ws, "wine", config=TrainConfig(method="lora", base_model="all-MiniLM-L6-v2")
        )
    from modelmint.errors import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="learning-rate"):
        train_and_register(ws, "wine", config=TrainConfig(learning_rate=1e308, max_rounds=50))
    assert registry.list_models(ws.store, "wine") == []
    assert not list((ws.settings.models_dir / "wine").glob("*"))  # no version, no staging left
    from dataclasses import replace
    from pathlib import Path

    from modelmint.train import train_model

    rows = data.read_examples(Path(ws.store.datasets.get("wine")["path"]))
    only_test = [replace(e, split="test") for e in rows]
    with pytest.raises(InvalidInput, match="no training rows"):
        train_model(only_test, "tabular-classification", TrainConfig(), tmp_path / "m")


def test_kfold_cross_validation_never_touches_the_test_split(ws, tmp_path):
    from sklearn.datasets import load_wine

    from modelmint.pipeline import cross_validate

    ref, _, _ = _add(
        ws, "wine", _sklearn_csv(tmp_path / "w.csv", load_wine), label="target", features=["all"]
    )
    cv = cross_validate(ws, "wine", 3)
    n_test = sum(e.split == "test" for e in data.read_examples(ref.path))
    assert len(cv["rounds"]) == 3
    assert (
        sum(r["n"] for r in cv["rounds"]) == ref.n_rows - n_test
    )  # every non-test row scored once
    assert 0.8 < cv["summary"]["accuracy"]["mean"] <= 1.0 and cv["summary"]["accuracy"]["std"] >= 0
    assert registry.list_models(ws.store, "wine") == []  # CV registers nothing


def test_differential_privacy_records_the_spent_budget(ws, trained):
    from modelmint.pipeline import evaluate_full

    out = train_and_register(ws, "reviews", config=TrainConfig(dp_epsilon=4.0, epochs=10))
    cfg = json.loads((out.model.path / "config.json").read_text())
    p = cfg["privacy"]
    assert 0 < p["epsilon"] <= 4.0 + 1e-3 and p["delta"] < 1 / out.train.n_train
    assert out.report.accuracy > 0.5  # still learns something at epsilon 4 on 84 examples
    card = evaluate_full(ws, out.model.ref, robustness=False).card_path.read_text()
    assert "Differential privacy: epsilon" in card
    with pytest.raises(InvalidInput, match="--method head on a text-classification"):
        train_and_register(ws, "reviews", config=TrainConfig(dp_epsilon=1.0, method="full"))


def test_torchrun_two_processes_on_cpu_register_one_version(ws, tmp_path, digits_folder):
    """The multi-GPU path (torchrun / accelerate launch) exercised with 2 CPU processes (gloo):
    both train their half of every batch, rank 0 alone evaluates and registers."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    _add(ws, "digits", digits_folder(tmp_path / "digits", per_class=20))
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {
        **os.environ,
        "MODELMINT_HOME": str(ws.settings.home),
        "MODELMINT_DATABASE_URL": ws.settings.sqlalchemy_url,
        "OMP_NUM_THREADS": "1",
    }
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "modelmint", "train"]
    proc = subprocess.Popen(
        [*cmd, "digits", "--epochs", "2", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so a hang can be killed with every worker
    )
    try:
        _, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        raise
    assert proc.returncode == 0, stderr[-2000:]
    models = registry.list_models(ws.store, "digits")
    assert [m.version for m in models] == [1]
    cfg = json.loads((models[0].path / "config.json").read_text())
    assert cfg["world_size"] == 2 and len(cfg["learning_curve"]) == 2
