"""The audit finds what we plant in real reviews: duplicates, near-duplicates, conflicts,
leakage and flipped labels (cleanlab on real embeddings)."""

from __future__ import annotations

import csv
import json

from modelmint import data
from modelmint.cli import main
from modelmint.types import Example


def _planted(review_rows):
    rows = [dict(r) for r in review_rows]  # 60 pos, 60 neg, short real reviews
    flipped = set()
    for i in list(range(0, 60, 6)) + list(range(60, 120, 6)):  # 20 flipped labels
        rows[i]["label"] = "neg" if rows[i]["label"] == "pos" else "pos"
        flipped.add(rows[i]["text"])
    planted = [
        dict(rows[1]),
        dict(rows[2]),
        dict(rows[61]),  # 3 exact duplicates
        {
            "text": rows[3]["text"],
            "label": "neg" if rows[3]["label"] == "pos" else "pos",
        },  # conflict
        {
            "text": rows[64]["text"],
            "label": "pos" if rows[64]["label"] == "neg" else "neg",
        },  # conflict
        {"text": rows[5]["text"].upper() + " ！！", "label": rows[5]["label"]},  # near-dup
        {"text": rows[70]["text"] + "吧", "label": rows[70]["label"]},  # fuzzy near-dup
    ]
    return rows + planted, flipped


def test_planted_problems_are_found(ws, tmp_path, review_rows, capsys, monkeypatch):
    monkeypatch.setenv("MODELMINT_DATABASE_URL", ws.settings.database_url)
    rows, flipped = _planted(review_rows)
    path = tmp_path / "planted.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
    ref, audit, _ = data.add_dataset(ws.store, ws.settings.datasets_dir, "planted", path)
    assert audit["duplicate_rows"] == 3
    assert audit["conflicting_texts"] == 2 and audit["dropped"]["conflicting"] == 4
    assert audit["near_duplicate_rows"] >= 1
    assert [r for pair in audit["near_duplicate_examples"] for r in pair] == [
        7,
        127,
    ]  # 1-based lines

    _, review = data.review_version(ws.store, "planted", label_errors=True, cache=ws.cache)
    fz = review["fuzzy_duplicates"]
    texts = [e.text for e in data.read_examples(ref.path)]
    fuzzy_pairs = [{texts[r - 1] for r in p["rows"]} for p in fz["examples"]]
    assert {rows[70]["text"], rows[70]["text"] + "吧"} in fuzzy_pairs
    li = review["label_issues"]
    found = {r["text"] for r in li["rows"]}
    flipped_kept = {t for t in flipped if t in {e.text for e in data.read_examples(ref.path)}}
    recall = len(found & flipped_kept) / len(flipped_kept)
    precision = len(found & flipped_kept) / max(len(found), 1)
    # measured: recall 0.90, precision 0.50 (36 flagged of 126; the real reviews carry some
    # label noise of their own, so not every extra flag is wrong)
    assert recall >= 0.7, (recall, precision, li["count"])
    assert precision >= 0.4, (recall, precision, li["count"])
    for r in li["rows"]:
        assert r["suggested"] != r["given"] or r["confidence_in_given"] < 0.5

    rc = main(["--home", str(ws.settings.home), "data", "audit", "planted", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["leakage"] == review["leakage"]
    page = (ws.settings.home / "reports" / "planted-v1-audit.html").read_text(encoding="utf-8")
    assert "<svg" in page and "Class balance" in page
    # a plain audit keeps the label errors already reviewed, so `clean --drop-label-errors` works
    assert "Suspected label errors" in page and out["label_issues"]["count"] == li["count"]


def test_leakage_across_splits_is_reported():
    ex = [
        Example("好评 好评", "pos", "train"),
        Example("好评好评！", "pos", "test"),
        Example("差评", "neg", "train"),
        Example("差评", "neg", "validation"),
    ]
    lk = data.leakage(ex)
    assert lk["exact"] == 1 and lk["exact_examples"][0]["rows"] == [3, 4]
    assert lk["near"] == 2


def test_column_profile_flags_constant_id_like_and_outliers(ws, tmp_path, review_rows):
    path = tmp_path / "cols.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "label", "shop", "price"])
        for i, r in enumerate(review_rows):
            price = 10_000 if i == 7 else 20 + i % 7
            w.writerow([f"u{i:05d}", r["text"], r["label"], "main", price])
    _, audit, _ = data.add_dataset(ws.store, ws.settings.datasets_dir, "cols", path)
    cols = audit["columns"]
    assert "id-like" in cols["id"]["flags"] and "constant" in cols["shop"]["flags"]
    assert cols["price"]["kind"] == "numeric" and cols["price"]["outliers"]["example_rows"] == [9]
