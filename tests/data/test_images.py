"""Image folders and zips, with real images (scikit-learn's digits), bad files and a zip bomb."""

from __future__ import annotations

import zipfile

import pytest

from modelmint import data
from modelmint.errors import InvalidInput


def test_class_folders_become_an_image_dataset(ws, tmp_path, digits_folder):
    root = digits_folder(tmp_path / "digits")
    (root / "digit0" / "copy.png").write_bytes((root / "digit0" / "0_1.png").read_bytes())
    ref, audit, _ = data.add_dataset(ws.store, ws.settings.datasets_dir, "digits", root)
    assert ref.task == "image-classification" and ref.labels == ("digit0", "digit1", "digit2")
    assert audit["rows"] == 37 and audit["duplicate_rows"] == 1 and ref.n_rows == 36
    assert audit["images"]["image_size"]["width"]["median"] == 8
    ex = data.read_examples(ref.path)
    assert all((ref.path.parent / "images" / e.image).is_file() for e in ex)
    assert {e.split for e in ex} == {"train", "validation", "test"}


def test_bad_images_refused_unless_skip_bad(ws, tmp_path, digits_folder):
    root = digits_folder(tmp_path / "digits")
    (root / "digit1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "digit2" / "notes.txt").write_text("hello")
    with zipfile.ZipFile(root / "digit2" / "more.zip", "w") as z:
        z.writestr("x.png", b"x")
    with pytest.raises(InvalidInput, match=r"3 file\(s\).*--skip-bad"):
        data.add_dataset(ws.store, ws.settings.datasets_dir, "digits", root)
    assert ws.store.datasets.list() == []
    assert not (ws.settings.datasets_dir / "digits" / "images").exists()
    ref, audit, _ = data.add_dataset(
        ws.store, ws.settings.datasets_dir, "digits", root, skip_bad=True
    )
    bad = {b["file"]: b["reason"] for b in audit["images"]["bad_file_examples"]}
    assert set(bad) == {"digit1/broken.png", "digit2/notes.txt", "digit2/more.zip"}
    assert "archive" in bad["digit2/more.zip"] and ref.n_rows == 36


def test_zip_input_and_zip_bomb(ws, tmp_path, digits_folder):
    root = digits_folder(tmp_path / "digits")
    archive = tmp_path / "digits.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in root.rglob("*.png"):
            z.write(f, f"digits/{f.relative_to(root)}")
    ref, audit, _ = data.add_dataset(ws.store, ws.settings.datasets_dir, "zipped", archive)
    assert ref.n_rows == 36 and audit["task_inferred"] == "a .zip of class folders"
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("digit0/a.png", b"\0" * 20_000_000)
        z.writestr("digit1/b.png", b"\0" * 10)
    with pytest.raises(InvalidInput, match="zip bomb"):
        data.add_dataset(ws.store, ws.settings.datasets_dir, "bomb", bomb)
    traversal = tmp_path / "evil.zip"
    with zipfile.ZipFile(traversal, "w") as z:
        z.writestr("../../evil.png", b"x" * 100)
    with pytest.raises(InvalidInput, match="unsafe path"):
        data.add_dataset(ws.store, ws.settings.datasets_dir, "evil", traversal)


def test_decompression_bomb_image_is_a_bad_file(tmp_path):
    from PIL import Image

    from modelmint.data.images import decode

    path = tmp_path / "huge.png"
    Image.new("1", (20_000, 10_000)).save(path)  # 200M pixels, a few KB on disk
    with pytest.raises(ValueError, match="decompression bomb"):
        decode(path.read_bytes())
