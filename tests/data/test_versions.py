"""Stored versions: group-aware splits, conflict policies, clean with lineage, diff, k-fold."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import pytest

from modelmint import data
from modelmint.cli import main
from modelmint.errors import InvalidInput


def _write(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_group_never_spans_two_splits(ws, tmp_path, review_rows):
    rows = [[r["text"], r["label"], f"cust{i % 17}"] for i, r in enumerate(review_rows)]
    path = _write(tmp_path / "g.csv", ["text", "label", "customer_id"], rows)
    ref, audit, _ = data.add_dataset(
        ws.store, ws.settings.datasets_dir, "g", path, group="customer_id"
    )
    assert audit["groups"] == 17
    group_of = {data.redact(r[0])[0].strip(): r[2] for r in rows}  # stored texts are redacted
    splits_of = defaultdict(set)
    for e in data.read_examples(ref.path):
        splits_of[group_of[e.text]].add(e.split)
    assert all(len(s) == 1 for s in splits_of.values())
    assert {next(iter(s)) for s in splits_of.values()} == {"train", "validation", "test"}
    with pytest.raises(InvalidInput, match="did you mean --group customer_id"):
        data.add_dataset(ws.store, ws.settings.datasets_dir, "g", path, group="customer")


def test_conflicts_majority(ws, tmp_path, review_rows):
    rows = [[r["text"], r["label"]] for r in review_rows]
    t = review_rows[0]["text"]
    rows += [[t, "neg"], [t, "pos"], [t, "pos"]]  # pos x3 (incl. the original) vs neg x1
    path = _write(tmp_path / "c.csv", ["text", "label"], rows)
    _, drop, _ = data.add_dataset(ws.store, ws.settings.datasets_dir, "c", path)
    assert drop["kept_rows"] == 119 and drop["dropped"]["conflicting"] == 4
    ref, maj, _ = data.add_dataset(
        ws.store, ws.settings.datasets_dir, "c", path, conflicts="majority"
    )
    assert maj["kept_rows"] == 120 and maj["conflicts_resolved_by_majority"] == 1
    assert {e.label for e in data.read_examples(ref.path) if e.text == t} == {"pos"}


def test_clean_diff_and_lineage(ws, tmp_path, review_rows, capsys, monkeypatch):
    monkeypatch.setenv("MODELMINT_DATABASE_URL", ws.settings.database_url)
    rows = [[r["text"], r["label"]] for r in review_rows]
    rows += [["ＡＢＣ　质量很好", "pos"], ["ABC 质量很好", "pos"], ["  多余的   空格  ", "neg"]]
    path = _write(tmp_path / "d.csv", ["text", "label"], rows)
    v1, _, _ = data.add_dataset(ws.store, ws.settings.datasets_dir, "d", path)
    home = ["--home", str(ws.settings.home)]
    assert (
        main([*home, "data", "clean", "d:1", "--fold-width", "--drop-rows", "1,2", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "d:2"
    fixes = {f["fix"]: f for f in out["fixes"]}
    assert fixes["drop_rows"]["rows"] == 2 and fixes["fold_width"]["changed"] >= 2
    assert fixes["merge_duplicates"]["rows"] == 1  # the full-width twin folded into its pair
    row = ws.store.datasets.get("d", 2)
    assert row["parent_id"] == ws.store.datasets.get("d", 1)["id"]
    assert row["source"]["parent"] == "d:1" and row["source"]["kind"] == "clean"
    texts = {e.text for e in data.read_examples(v1.path.parent / f"{row['content_hash']}.jsonl")}
    assert "多余的 空格" in texts and "ABC 质量很好" in texts
    assert main([*home, "data", "diff", "d:1", "d:2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rows"] == {"a": 123, "b": 120} and d["label_changed"] == 0
    assert d["removed"] == 3 and d["added"] == 0  # 2 dropped rows + the merged full-width twin
    assert d["text_changed"] >= 2 and all(x["from"] != x["to"] for x in d["text_changed_examples"])
    with pytest.raises(InvalidInput, match="--label-errors"):
        data.clean_version(ws.store, ws.settings.datasets_dir, "d", 1, drop_label_errors=True)
    with pytest.raises(InvalidInput, match="outside"):
        data.clean_version(ws.store, ws.settings.datasets_dir, "d", 1, drop_rows=[999])


def test_kfold_is_stratified_and_excludes_test(ws, reviews_csv, capsys, monkeypatch):
    monkeypatch.setenv("MODELMINT_DATABASE_URL", ws.settings.database_url)
    ref, _, _ = data.add_dataset(ws.store, ws.settings.datasets_dir, "k", reviews_csv)
    ex = data.read_examples(ref.path)
    folds = data.kfold(ex, 4, seed=1)
    assert all((f == -1) == (e.split == "test") for e, f in zip(ex, folds, strict=True))
    for i in range(4):
        labels = [e.label for e, f in zip(ex, folds, strict=True) if f == i]
        assert abs(labels.count("pos") - labels.count("neg")) <= 1
    assert folds == data.kfold(ex, 4, seed=1) != data.kfold(ex, 4, seed=2)
    assert (
        main(
            [
                "--home",
                str(ws.settings.home),
                "data",
                "folds",
                "k",
                "--k",
                "4",
                "--seed",
                "1",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["assignment"] == folds


def test_tabular_impute_and_scale_recorded_for_serving(ws, tmp_path):
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame.loc[[3, 40, 77], "alcohol"] = None
    frame.loc[[5], "magnesium"] = None
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    data.add_dataset(
        ws.store, ws.settings.datasets_dir, "wine", path, label="target", features=["all"]
    )
    ref, audit, _ = data.clean_version(
        ws.store, ws.settings.datasets_dir, "wine", missing="impute", scale=True
    )
    fixes = {f["fix"]: f for f in audit["fixes"]}
    assert fixes["impute_missing"]["cells"] == 4
    params = fixes["scale"]["params"]["alcohol"]
    ex = data.read_examples(ref.path)
    train = [e.features["alcohol"] for e in ex if e.split == "train"]
    assert abs(sum(train) / len(train)) < 1e-9 and params["std"] > 0
    assert all(e.features["alcohol"] is not None for e in ex)
    assert ws.store.datasets.get("wine", 2)["source"]["fixes"] == audit["fixes"]
    dropped, audit2, _ = data.clean_version(
        ws.store, ws.settings.datasets_dir, "wine", 1, missing="drop"
    )
    assert {f["fix"]: f for f in audit2["fixes"]}["drop_missing"][
        "rows"
    ] == 4 and dropped.n_rows == 174
    with pytest.raises(InvalidInput, match="use drop or impute"):
        data.clean_version(ws.store, ws.settings.datasets_dir, "wine", 1, missing="sometimes")


def test_tabular_fixes_refused_on_text(ws, reviews_csv):
    data.add_dataset(ws.store, ws.settings.datasets_dir, "t", reviews_csv)
    with pytest.raises(InvalidInput, match="for tabular data"):
        data.clean_version(ws.store, ws.settings.datasets_dir, "t", scale=True)
