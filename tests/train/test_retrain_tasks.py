"""Retraining covers every task (issue 13): feedback on served predictions becomes training data
for multi-label, text and tabular regression and tabular classification; entities and images
(and any task) learn from corrected rows. Real bundled data, real HTTP, the real gate."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelmint import data, registry
from modelmint.cli import main
from modelmint.errors import InvalidInput
from modelmint.experiments import policy
from modelmint.pipeline import retrain, train_and_register
from modelmint.train import TrainConfig

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _add(ws, name, path, **kw):
    return data.add_dataset(ws.store, ws.settings.datasets_dir, name, path, **kw)


def _serve_and_label(client_for, scenario, inputs, answers):
    """Predict `inputs` over HTTP, then send `answers` as feedback on them; the prediction ids."""
    ids = []
    with client_for() as c:
        r = c.post(f"/v1/scenarios/{scenario}/predict", json={"inputs": inputs})
        assert r.status_code == 200, r.text
        for p, answer in zip(r.json()["predictions"], answers, strict=True):
            fb = c.post("/v1/feedback", json={"prediction_id": p["id"], "label": answer})
            assert fb.status_code == 201, fb.text
            ids.append(p["id"])
    return ids


def _test_split(path):
    return [e for e in data.read_examples(path) if e.split == "test"]


def test_tabular_regression_and_classification_retrain_from_feedback(ws, tmp_path, client_for):
    from sklearn.datasets import load_diabetes, load_iris

    frame = load_diabetes(as_frame=True).frame
    frame.iloc[:380].to_csv(tmp_path / "d.csv", index=False)
    _add(ws, "diabetes", tmp_path / "d.csv", target="target", features=["all"])
    first = train_and_register(ws, "diabetes")
    registry.promote(ws.store, first.model.ref)
    # 60 unseen patients, scored, then their true values come back as feedback
    unseen = frame.iloc[380:440]
    rows = [{k: float(v) for k, v in r.items() if k != "target"} for _, r in unseen.iterrows()]
    _serve_and_label(client_for, "diabetes", rows, [str(v) for v in unseen["target"]])
    res = retrain(ws, "diabetes")
    c = res.curation
    assert c["feedback"] == 60 and c["examples"] == 60 and c["added"] == 60
    assert c["columns_differ"] == c["unreadable_input"] == 0
    new = data.read_examples(res.dataset.path)
    added = [e for e in new if e.source == "feedback"]
    assert len(added) == 60 and all(e.split == "train" and e.target for e in added)
    assert sorted(e.target for e in added) == sorted(float(v) for v in unseen["target"])
    assert _test_split(res.dataset.path) == _test_split(first.dataset.path)
    assert res.decision.metric == "mae" and res.production_report.value("mae") == pytest.approx(
        first.report.value("mae")
    )

    iris = load_iris(as_frame=True).frame
    iris["target"] = iris["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    iris = iris.sample(frac=1.0, random_state=0)
    iris.iloc[:110].to_csv(tmp_path / "iris.csv", index=False)
    _add(ws, "iris", tmp_path / "iris.csv", label="target", features=["all"])
    registry.promote(ws.store, train_and_register(ws, "iris").model.ref)
    rest = iris.iloc[110:]
    feats = [{k: float(v) for k, v in r.items() if k != "target"} for _, r in rest.iterrows()]
    answers = list(rest["target"])
    answers[0] = "rose"  # not one of the scenario's classes: refused at the door
    with client_for() as cl:
        p = cl.post("/v1/scenarios/iris/predict", json={"inputs": feats[:1]}).json()
        r = cl.post(
            "/v1/feedback", json={"prediction_id": p["predictions"][0]["id"], "label": "rose"}
        )
        assert r.status_code == 400 and "setosa" in r.text
    _serve_and_label(client_for, "iris", feats[1:], answers[1:])
    res = retrain(ws, "iris")
    # iris repeats a few flowers: an input already in the data, or sent twice, counts once
    sent = {json.dumps(f, ensure_ascii=False, sort_keys=True) for f in feats[1:]}
    base = {
        e.input_key() for e in data.read_examples(Path(ws.store.datasets.get("iris", 1)["path"]))
    }
    assert res.curation["feedback"] == len(rest) - 1 and res.curation["examples"] == len(sent)
    assert res.curation["added"] == len(sent - base) > 30
    new = [e for e in data.read_examples(res.dataset.path) if e.source == "feedback"]
    assert {e.label for e in new} <= {"setosa", "versicolor", "virginica"}
    assert all(set(e.features) == set(feats[0]) for e in new)
    assert res.decision.metric == "accuracy" and res.candidate_report.n == res.production_report.n


def test_multilabel_and_text_regression_retrain_from_feedback(
    ws, tmp_path, review_rows, client_for, tiny_encoder
):
    path = tmp_path / "ml.csv"
    train_rows, later = review_rows[::2] + review_rows[1::4], review_rows[3::4]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "praise", "complaint", "stars"])
        for i, r in enumerate(train_rows):
            pos = r["label"] == "pos"
            w.writerow(
                [r["text"], int(pos or i % 7 == 0), int(not pos or i % 7 == 0), 4.5 if pos else 1.5]
            )
    cfg = TrainConfig(base_model=tiny_encoder)
    _add(ws, "tags", path, label=["praise", "complaint"])
    registry.promote(ws.store, train_and_register(ws, "tags", config=cfg).model.ref)
    _add(ws, "stars", path, target="stars")
    registry.promote(ws.store, train_and_register(ws, "stars", config=cfg).model.ref)
    texts = [r["text"] for r in later]
    tags = ["praise" if r["label"] == "pos" else "complaint,praise" for r in later]
    _serve_and_label(client_for, "tags", texts, tags)
    _serve_and_label(
        client_for, "stars", texts, ["5" if r["label"] == "pos" else "1" for r in later]
    )

    res = retrain(ws, "tags")
    assert res.curation["added"] == len(later) and res.decision.metric == "micro_f1"
    added = {
        e.text: e.labels for e in data.read_examples(res.dataset.path) if e.source == "feedback"
    }
    assert added[texts[0]] == tuple(sorted(tags[0].split(",")))
    res = retrain(ws, "stars")
    assert res.curation["added"] == len(later) and res.decision.metric == "mae"
    added = {
        e.text: e.target for e in data.read_examples(res.dataset.path) if e.source == "feedback"
    }
    assert set(added.values()) <= {1.0, 5.0} and len(added) == len(later)


def test_regression_feedback_votes_by_median(ws, tmp_path, review_rows, tiny_encoder, client_for):
    """Three answers for one input become their median; a tie of classes drops the input."""
    from modelmint import feedback

    path = tmp_path / "s.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "stars"])
        for r in review_rows[:60]:
            w.writerow([r["text"], 4.5 if r["label"] == "pos" else 1.5])
    _add(ws, "stars", path, target="stars")
    registry.promote(
        ws.store,
        train_and_register(ws, "stars", config=TrainConfig(base_model=tiny_encoder)).model.ref,
    )
    text = review_rows[100]["text"]
    _serve_and_label(client_for, "stars", [text, text, text], ["2", "3", "10"])
    examples, stats = feedback.curate(ws.store, "stars", [], "text-regression")
    assert [(e.text, e.target) for e in examples] == [(text, 3.0)]
    assert stats["feedback"] == 3 and stats["bad_value"] == 0


def _ner_file(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def test_entities_retrain_from_corrected_rows(ws, tmp_path):
    rows = data.peoples_daily_ner(700)
    _add(ws, "ner", _ner_file(tmp_path / "pd.jsonl", rows[:500]), tokens="tokens", tags="tags")
    first = train_and_register(ws, "ner")
    registry.promote(ws.store, first.model.ref)
    with pytest.raises(InvalidInput, match="--rows"):
        retrain(ws, "ner")  # no feedback can teach entities: the error says what does
    # nor can a policy's trigger: the worker would have nothing to retrain on
    with pytest.raises(InvalidInput, match="corrected rows"):
        policy.set_policy(ws.store, "ner", policy.PolicySpec(retrain_every="7d"), T0)
    base = data.read_examples(first.dataset.path)
    test_row = next(e for e in base if e.split == "test" and "B-LOC" in e.tags)
    fixed = {  # a corrected test sentence: its LOC re-tagged as ORG
        "tokens": list(test_row.tokens),
        "tags": [t.replace("LOC", "ORG") for t in test_row.tags],
    }
    corrections = _ner_file(tmp_path / "fix.jsonl", [*rows[500:700], fixed])
    res = retrain(ws, "ner", rows=corrections)
    c = res.curation
    # the rows as `data add` keeps them (repeated sentences once), all of them accounted for
    kept = ws.store.datasets.get("ner-corrections", 1)["n_rows"]
    assert 190 < kept <= 201 and c["rows_rows"] == kept and c["rows_corrected"] >= 1
    assert c["rows_added"] + c["rows_corrected"] + c["rows_unchanged"] == kept
    new = data.read_examples(res.dataset.path)
    assert len(new) == len(base) + c["rows_added"]
    test_new = [e for e in new if e.split == "test"]
    assert [e.tokens for e in test_new] == [e.tokens for e in _test_split(first.dataset.path)]
    assert next(e for e in test_new if e.tokens == test_row.tokens).tags == tuple(fixed["tags"])
    assert res.candidate_report.n == res.production_report.n == len(test_new)
    assert res.decision.metric == "span_f1"
    # the corrections keep their lineage as a dataset of their own
    src = ws.store.datasets.get("ner", res.dataset.version)["source"]
    assert src["kind"] == "corrections" and src["corrections"] == "ner-corrections:1"
    # the same rows again change nothing: refused, nothing trained
    with pytest.raises(InvalidInput, match="change nothing"):
        retrain(ws, "ner", rows=_ner_file(tmp_path / "same.jsonl", rows[:10]))


def test_images_retrain_from_corrected_folder_via_cli(
    ws, tmp_path, digits_folder, settings, monkeypatch, capsys
):
    from PIL import Image
    from sklearn.datasets import load_digits

    _add(ws, "digits", digits_folder(tmp_path / "digits", per_class=20))
    first = train_and_register(ws, "digits", config=TrainConfig(epochs=6, patience=6))
    registry.promote(ws.store, first.model.ref)
    # 10 more images of each digit, beyond the 20 the dataset holds
    d = load_digits()
    seen: dict[int, int] = {}
    for img, y in zip(d.images, d.target, strict=True):
        if y > 2:
            continue
        seen[y] = seen.get(y, 0) + 1
        if 20 < seen[y] <= 30:
            folder = tmp_path / "more" / f"digit{y}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((img * 16).astype("uint8")).save(folder / f"{seen[y]}.png")
    monkeypatch.setenv("MODELMINT_DATABASE_URL", settings.database_url)

    def mm(*args: str) -> tuple[int, str]:
        rc = main(["--home", str(settings.home), "retrain", "digits", *args])
        out = capsys.readouterr()
        return rc, out.out if "--json" in args and rc in (0, 8) else out.out + out.err

    more = str(tmp_path / "more")
    rc, out = mm("--rows", more, "--queue")
    assert rc == 2 and "drop --queue" in out
    rc, out = mm("--rows", str(tmp_path / "nope"))
    assert rc == 2 and "does not exist" in out
    rc, out = mm("--rows", more, "--json")
    assert rc in (0, 8), out  # 8: the gate kept production
    res = json.loads(out)
    assert res["curation"]["rows_added"] == 30 and res["candidate"] == "digits:2"
    new = data.read_examples(Path(ws.store.datasets.get("digits", 2)["path"]))
    images = ws.settings.datasets_dir / "digits" / "images"
    assert all((images / e.image).is_file() for e in new)  # every image beside the dataset
    assert len([e for e in new if e.source == "correction"]) == 30
    # one image of one class is a fine correction (a dataset of its own would need two classes)
    one = tmp_path / "one" / "digit1"
    one.mkdir(parents=True)
    next((tmp_path / "more" / "digit2").iterdir()).rename(one / "x.png")
    rc, out = mm("--rows", str(tmp_path / "one"), "--json")
    assert rc in (0, 8), out
    assert json.loads(out)["curation"]["rows_rows"] == 1
