from __future__ import annotations

import random

import pytest

from modelmint import data
from modelmint.data.augment import augment_text
from modelmint.errors import InvalidInput


def test_text_augmentation_only_touches_train_and_is_marked(ws, reviews_csv, tmp_path):
    ref, _, _ = data.add_dataset(ws.store, ws.settings.datasets_dir, "r", reviews_csv)
    lex = tmp_path / "syn.tsv"
    lex.write_text("很好\t非常好,挺好\n质量\t品质\n", encoding="utf-8")
    new, audit, created = data.augment_version(
        ws.store, ws.settings.datasets_dir, "r", copies=2, lexicon_path=lex
    )
    assert created and new.ref == "r:2" and audit["augmented_rows"] > 100
    old = data.read_examples(ref.path)
    ex = data.read_examples(new.path)
    aug = [e for e in ex if e.source == "augmented"]
    assert aug and all(e.split == "train" for e in aug)
    assert [e for e in ex if e.split != "train"] == [e for e in old if e.split != "train"]
    assert not {e.text for e in aug} & {e.text for e in old}
    row = ws.store.datasets.get("r", 2)
    assert (
        row["parent_id"] == ws.store.datasets.get("r", 1)["id"]
        and row["source"]["kind"] == "augment"
    )


def test_chinese_words_come_from_the_segmenter():
    rng = random.Random(0)
    out = augment_text("这家店的质量很好物流也很快", rng)
    assert out != "这家店的质量很好物流也很快" and set(out) <= set("这家店的质量很好物流也很快")
    assert augment_text("short one", rng) == "short one"  # under three words: left alone


def test_images_augment_and_tabular_is_refused(ws, tmp_path, digits_folder):
    from sklearn.datasets import load_wine

    root = digits_folder(tmp_path / "digits")
    data.add_dataset(ws.store, ws.settings.datasets_dir, "digits", root)
    new, audit, _ = data.augment_version(ws.store, ws.settings.datasets_dir, "digits")
    aug = [e for e in data.read_examples(new.path) if e.source == "augmented"]
    assert len(aug) == audit["augmented_rows"] > 0
    assert all((new.path.parent / "images" / e.image).is_file() for e in aug)
    wine = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(wine, index=False)
    data.add_dataset(
        ws.store, ws.settings.datasets_dir, "wine", wine, label="target", features=["all"]
    )
    with pytest.raises(InvalidInput, match="not tabular-classification"):
        data.augment_version(ws.store, ws.settings.datasets_dir, "wine")
