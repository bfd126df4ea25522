from __future__ import annotations

import threading

import pytest

from modelmint import data, evaluate, registry
from modelmint.errors import ConfigError, Conflict, InvalidInput, NotFound
from modelmint.pipeline import evaluate_ref, train_and_register
from modelmint.train import TrainConfig
from modelmint.types import EvalReport


def test_train_registers_model_with_lineage_and_test_metrics(ws, trained):
    m = registry.get(ws.store, "reviews:1")  # re-read: promoted after training
    assert m.ref == "reviews:1" and m.dataset == "reviews:1" and m.aliases == ("production",)
    assert trained.report.n == 24
    # real learning on real reviews: well above chance even on 84 training examples
    assert trained.report.accuracy >= 0.7
    assert set(m.metrics["test"]) >= {"accuracy", "macro_f1", "macro_precision", "macro_recall"}
    row = ws.store.models.get("reviews", 1)
    assert row["train_config"]["base_model"] == "multilingual-e5-small"
    files = sorted(p.name for p in m.path.iterdir())
    assert files == [
        "config.json",
        "evaluation.json",
        "head.safetensors",
        "manifest.json",
        "reference.json",  # monitoring's reference profile (docs/monitoring.md)
        "reference.npz",
    ]
    assert not list(ws.settings.models_dir.glob("reviews/.staging-*"))


def test_same_seed_same_metrics_and_eval_matches(ws, trained):
    again = train_and_register(ws, "reviews")
    assert again.model.version == 2
    assert again.report.accuracy == trained.report.accuracy
    assert again.report.predictions == trained.report.predictions
    _, report = evaluate_ref(ws, "reviews:1")
    assert (
        report.accuracy == trained.report.accuracy and report.confusion == trained.report.confusion
    )


def test_promote_rollback_and_audit(ws, trained):
    train_and_register(ws, "reviews")
    assert registry.promote(ws.store, "reviews:2") == 1
    assert registry.get(ws.store, "reviews:production").version == 2
    assert registry.rollback(ws.store, "reviews") == (2, 1)
    assert registry.get(ws.store, "reviews:production").version == 1
    with pytest.raises(Conflict, match="no earlier version"):
        registry.rollback(ws.store, "reviews")
    actions = [
        (e["action"], e["from_version"], e["to_version"]) for e in ws.store.models.events("reviews")
    ]
    assert actions == [("promote", None, 1), ("promote", 1, 2), ("rollback", 2, 1)]


def _race(n: int, fn) -> list[str]:
    barrier = threading.Barrier(n)
    results: list[str] = []

    def attempt():
        barrier.wait()
        try:
            fn()
            results.append("won")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


def test_concurrent_compare_and_set_has_one_winner(ws, reviews_csv):
    data.add_dataset(ws.store, ws.settings.datasets_dir, "reviews", reviews_csv)
    train_and_register(ws, "reviews")
    train_and_register(ws, "reviews")

    def first():  # nobody has promoted yet: concurrent inserts of the alias row
        ws.store.models.set_alias(
            "reviews",
            "production",
            1,
            action="promote",
            actor="t",
            reason="race",
            expect_current=None,
        )

    def second():  # 1 -> 2, all expecting 1
        ws.store.models.set_alias(
            "reviews", "production", 2, action="promote", actor="t", reason="race", expect_current=1
        )

    assert _race(6, first) == ["conflict"] * 5 + ["won"]
    assert _race(6, second) == ["conflict"] * 5 + ["won"]
    assert [e["to_version"] for e in ws.store.models.events("reviews")] == [1, 2]


def test_unknown_refs_and_bad_config(ws, trained):
    with pytest.raises(NotFound, match="models list"):
        registry.get(ws.store, "reviews:9")
    with pytest.raises(InvalidInput, match="NAME:VERSION"):
        registry.get(ws.store, "Reviews One")
    with pytest.raises(NotFound, match="data list"):
        train_and_register(ws, "nosuch")
    with pytest.raises(InvalidInput, match="head, lora or full"):
        TrainConfig(method="adapter")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"cannot be fine-tuned.*all-MiniLM-L6-v2"):
        train_and_register(ws, "reviews", config=TrainConfig(method="lora"))
    with pytest.raises(ConfigError, match=r"multilingual-e5-small, all-MiniLM-L6-v2"):
        train_and_register(ws, "reviews", config=TrainConfig(base_model="/no/such/model"))
    assert [m.version for m in registry.list_models(ws.store, "reviews")] == [1]


def test_corrupt_artifact_is_refused(ws, trained):
    head = trained.model.path / "head.safetensors"
    head.chmod(0o644)
    head.write_bytes(head.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(Exception, match="checksum"):
        registry.load(ws.store, "reviews:1")


def _report(preds, truth):
    return evaluate.classification_report(truth, preds, ["neg", "pos"])


def test_metrics_and_gate():
    truth = ["pos"] * 10 + ["neg"] * 10
    prod = _report(["pos"] * 10 + ["pos"] * 3 + ["neg"] * 7, truth)
    assert prod.accuracy == 0.85 and prod.confusion == [[7, 3], [0, 10]]
    better = _report(["pos"] * 10 + ["pos"] * 1 + ["neg"] * 9, truth)
    # better by 2 of 20 with no loss: McNemar p = 0.5, not evidence: it stays a candidate
    d = evaluate.gate(better, prod, truth)
    assert not d.promote and d.delta == pytest.approx(0.1)
    assert d.discordant["candidate_only_right"] == 2 and "not significant" in d.reason
    # non-inferior within 5 points (a policy that judges on the business metric): promoted
    assert evaluate.gate(better, prod, truth, margin=0.05).promote
    truth40 = ["pos"] * 20 + ["neg"] * 20
    weak = _report(["pos"] * 20 + ["pos"] * 12 + ["neg"] * 8, truth40)
    strong = _report(["pos"] * 20 + ["pos"] * 2 + ["neg"] * 18, truth40)
    d = evaluate.gate(strong, weak, truth40)
    assert d.promote and d.mcnemar_p < 0.05 and d.discordant["candidate_only_right"] == 10
    assert not evaluate.gate(weak, strong, truth40, margin=0.05).promote
    same = evaluate.gate(prod, prod, truth)
    assert not same.promote and same.mcnemar_p == 1.0
    assert not evaluate.gate(strong, weak, truth40, min_improvement=0.3).promote
    first = evaluate.gate(prod, None, truth)
    assert first.promote and first.production is None
    assert isinstance(prod, EvalReport)


def test_mcnemar_exact_values():
    assert evaluate.mcnemar_exact(0, 0) == 1.0
    assert evaluate.mcnemar_exact(10, 0) == pytest.approx(2 / 1024)


def test_dataset_version_recorded_on_model(ws, reviews_csv):
    ref, _, _ = data.add_dataset(ws.store, ws.settings.datasets_dir, "reviews", reviews_csv, seed=1)
    out = train_and_register(ws, "reviews")
    assert out.dataset.content_hash == ref.content_hash
    assert out.model.metrics["n_train"] == 84


def test_probability_metrics_intervals_and_baseline():
    import numpy as np

    truth = ["pos"] * 30 + ["neg"] * 10
    proba = np.array([[0.1, 0.9]] * 27 + [[0.6, 0.4]] * 3 + [[0.8, 0.2]] * 10)  # (neg, pos)
    preds = ["pos" if p[1] > 0.5 else "neg" for p in proba]
    r = evaluate.classification_report(truth, preds, ["neg", "pos"], proba=proba)
    ex = r.extra
    assert r.accuracy == 0.925
    lo, hi = ex["accuracy_ci95"]
    assert lo < 0.925 < hi and lo > 0.8 and hi <= 1.0
    assert ex["baseline"] == {
        "predicts": "pos",
        "accuracy": 0.75,
        "macro_f1": pytest.approx(0.428571, abs=1e-6),
    }
    assert ex["roc_auc"] == 1.0  # every pos scores above every neg, even the 3 misclassified
    # 27 rows at 0.9 (all right), 3 at 0.6 (all wrong), 10 at 0.8 (all right)
    expected_ece = (27 * abs(1 - 0.9) + 3 * abs(0 - 0.6) + 10 * abs(1 - 0.8)) / 40
    assert ex["ece"] == pytest.approx(expected_ece, abs=1e-6)
    assert sum(b["n"] for b in ex["reliability"]) == 40
    assert set(r.headline()) >= {"accuracy_ci95", "roc_auc", "ece", "baseline"}


def test_multiclass_auc_and_a_class_missing_from_test():
    import numpy as np

    labels = ["a", "b", "c"]
    truth = ["a", "a", "b", "b"]  # no "c" in this test split
    proba = np.array([[0.8, 0.1, 0.1], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    preds = [labels[i] for i in proba.argmax(axis=1)]
    r = evaluate.classification_report(truth, preds, labels, proba=proba)
    # class a separates perfectly (1.0); class b does not (0.3 < 0.4): 0.75; macro mean 0.875
    assert r.extra["roc_auc"] == 0.875 and 0 < r.extra["pr_auc"] <= 1


def test_head_is_temperature_calibrated_on_validation(ws, trained):
    import numpy as np

    from modelmint.train.head import fit_temperature

    v = trained.train.validation_metrics
    assert v["temperature"] > 0 and v["nll_after_calibration"] <= v["nll_before_calibration"]
    assert "ece" in trained.report.extra and 0 <= trained.report.extra["ece"] <= 1
    # on logits that are far too timid, the fitted temperature sharpens them (T < 1)
    y = np.array([0, 1] * 50)
    logits = np.stack([(1 - y) * 0.2, y * 0.2], axis=1)
    t, before, after = fit_temperature(logits, y)
    assert t < 0.2 and after < before
