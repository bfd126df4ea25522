"""Regression tests for defects a code review found in the data stage and the registry."""

from __future__ import annotations

import csv

import pytest

from modelmint import data, registry
from modelmint.data.tasks import _number
from modelmint.errors import ConfigError, Conflict, PayloadTooLarge


def _csv(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_numbers_accept_thousands_separators_not_decimal_commas():
    assert _number("1,234.5") == 1234.5 and _number("-12,000") == -12000.0
    assert _number("3,14") is None and _number("1,2,3") is None


def test_features_all_leaves_out_the_label_text_and_group_columns(ws, tmp_path):
    rows = [[f"r{i}", i % 3, i * 1.5, "a" if i % 2 else "b", f"g{i % 9}"] for i in range(60)]
    path = _csv(tmp_path / "t.csv", ["text", "label", "x", "kind", "grp"], rows)
    ref, audit, _ = data.add_dataset(
        ws.store, ws.settings.datasets_dir, "t", path, features=["all"], group="grp"
    )
    ex = data.read_examples(ref.path)
    assert set(ex[0].features) == {"x", "kind"}  # not the label, the group or the unique text
    assert audit["task"] == "tabular-classification"
    assert "left out text" in audit["task_inferred"]


def test_multi_label_empty_set_is_an_answer_not_a_missing_label(ws, tmp_path, review_rows):
    rows = [[r["text"], int(i % 3 == 0), int(i % 3 == 1)] for i, r in enumerate(review_rows)]
    path = _csv(tmp_path / "m.csv", ["text", "a", "b"], rows)
    ref, audit, _ = data.add_dataset(
        ws.store, ws.settings.datasets_dir, "m", path, label=["a", "b"]
    )
    assert audit["missing_labels"] == 0 and ref.n_rows == 120
    assert sum(1 for e in data.read_examples(ref.path) if not e.labels) == 40


def test_group_splits_and_clean_work_for_regression(ws, tmp_path, review_rows):
    rows = [[r["text"], f"{i * 0.37:.2f}", f"c{i % 15}"] for i, r in enumerate(review_rows)]
    path = _csv(tmp_path / "r.csv", ["text", "y", "cust"], rows)
    ref, audit, _ = data.add_dataset(
        ws.store, ws.settings.datasets_dir, "r", path, target="y", group="cust"
    )
    assert ref.task == "text-regression" and audit["groups"] == 15
    new, _, _ = data.clean_version(ws.store, ws.settings.datasets_dir, "r", normalize=True)
    ex = data.read_examples(new.path)
    assert new.task == "text-regression" and all(e.target is not None for e in ex)
    assert data.leakage(ex)["exact"] == 0


def test_leakage_and_diff_use_the_real_input_for_tabular_rows(ws, tmp_path):
    from sklearn.datasets import load_wine

    path = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(path, index=False)
    ref, _, _ = data.add_dataset(
        ws.store, ws.settings.datasets_dir, "wine", path, label="target", features=["all"]
    )
    ex = data.read_examples(ref.path)
    assert data.leakage(ex)["exact"] == 0
    d = data.diff_versions(ex, ex[:-5])
    assert d["removed"] == 5 and d["added"] == 0


def test_image_folder_over_the_size_limit_is_refused(ws, tmp_path, digits_folder):
    root = digits_folder(tmp_path / "digits")
    with pytest.raises(PayloadTooLarge, match="MODELMINT_MAX_FILE_BYTES"):
        data.add_dataset(ws.store, ws.settings.datasets_dir, "d", root, max_bytes=1000)


def test_registry_skips_a_folder_it_did_not_create_and_refuses_changed_files(ws, trained):
    stray = ws.settings.models_dir / "reviews" / "v2"
    stray.mkdir()
    (stray / "keep.txt").write_text("another process's work")
    from modelmint.pipeline import train_and_register

    out = train_and_register(ws, "reviews")
    assert out.model.version == 3 and (stray / "keep.txt").exists()
    head = out.model.path / "head.safetensors"
    head.chmod(0o644)
    head.write_bytes(head.read_bytes() + b"\0")
    with pytest.raises((Conflict, ConfigError), match="checksum"):
        registry.promote(ws.store, "reviews:3")
