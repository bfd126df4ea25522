"""Image datasets: a folder with one subfolder per class (or a .zip of one).

Every file is decoded with Pillow before it is accepted (decompression bombs included: Pillow's
pixel limit is an error here, not a warning). Files that fail are listed and the whole add is
refused unless ``skip_bad``. A .zip is checked before anything is extracted: total size against
the file limit, and the compression ratio of every member (a zip bomb is refused). Accepted
images are stored once, by content hash, under ``datasets/NAME/images/``, and the rows go through
the same ``VersionBuilder`` as table files (split, hashed, stored).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import statistics
import tempfile
import warnings
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from modelmint.data.builder import Progress, VersionBuilder
from modelmint.errors import InvalidInput, PayloadTooLarge
from modelmint.store import Store
from modelmint.types import DatasetRef

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_ZIP_RATIO = 100  # uncompressed / compressed, per member and overall
MAX_LISTED = 50


def unpack_zip(path: Path, into: Path, max_bytes: int) -> Path:
    """Extract a zip of class folders after checking it is not a bomb and has no unsafe paths."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InvalidInput(f"{path.name} is not a valid zip archive; re-create it") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        total = sum(i.file_size for i in infos)
        packed = sum(i.compress_size for i in infos) or 1
        worst = max(infos, key=lambda i: i.file_size / max(i.compress_size, 1), default=None)
        if total > max_bytes:
            raise PayloadTooLarge(
                f"{path.name} unpacks to {total:,} bytes, over the limit of {max_bytes:,}; split it "
                "or raise MODELMINT_MAX_FILE_BYTES"
            )
        if worst is not None and (
            worst.file_size / max(worst.compress_size, 1) > MAX_ZIP_RATIO
            or total / packed > MAX_ZIP_RATIO
        ):
            raise InvalidInput(
                f"{path.name} looks like a zip bomb ({worst.filename} compresses "
                f"{worst.file_size / max(worst.compress_size, 1):,.0f}:1, the limit is {MAX_ZIP_RATIO}:1); "
                "nothing was extracted - send the image folder itself"
            )
        root = into.resolve()
        for i in infos:
            target = (root / i.filename).resolve()
            if not str(target).startswith(str(root) + os.sep):
                raise InvalidInput(
                    f"{path.name} has an unsafe path {i.filename!r}; re-create the archive"
                )
        try:
            zf.extractall(root)
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile, OSError) as exc:
            raise InvalidInput(
                f"{path.name} cannot be extracted ({type(exc).__name__}: {exc}); re-create it "
                "without encryption, with standard (deflate) compression"
            ) from None
    entries = [p for p in root.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    if len(entries) == 1 and entries[0].is_dir() and any(c.is_dir() for c in entries[0].iterdir()):
        return entries[0]  # the zip holds one top folder that holds the class folders
    return root


def decode(data: bytes) -> tuple[int, int, str]:
    """(width, height, mode) of a fully decoded image, or ValueError saying why not."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return im.width, im.height, im.mode
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ValueError(f"decompression bomb ({exc})") from None
        except Exception as exc:
            raise ValueError(f"cannot decode: {type(exc).__name__}: {exc}"[:160]) from None


class ImageScan:
    """Walk class folders: decode every file, keep good images, list bad ones."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bad: list[dict[str, str]] = []
        self.n_bad = 0
        self.sizes: list[tuple[int, int]] = []
        self.modes: Counter[str] = Counter()
        classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise InvalidInput(
                f"{root} has no class folders; put each class's images in a subfolder named for "
                "the class (e.g. cats/, dogs/)"
            )
        self.classes = classes
        self.files = [(c.name, f) for c in classes for f in sorted(c.rglob("*")) if f.is_file()]
        self.total_bytes = sum(f.stat().st_size for _, f in self.files)
        for f in sorted(root.iterdir()):
            if f.is_file() and not f.name.startswith("."):
                self._bad(f, "not inside a class folder")

    def _bad(self, f: Path, why: str) -> None:
        self.n_bad += 1
        if len(self.bad) < MAX_LISTED:
            self.bad.append({"file": str(f.relative_to(self.root)), "reason": why})

    def images(self, progress: Progress | None = None):
        """(row, class, file, bytes, sha256 hex, extension) for every good image."""
        for n, (cls, f) in enumerate(self.files, 1):
            if progress and n % 200 == 0:
                progress("decoding", n, len(self.files))
            if f.name.startswith("."):
                continue
            ext = f.suffix.lower()
            if ext not in IMAGE_EXTENSIONS:
                why = (
                    "an archive inside the image folder (not opened; unpack it)"
                    if ext in {".zip", ".tar", ".gz", ".7z", ".rar"}
                    else f"not an image file ({ext or 'no extension'})"
                )
                self._bad(f, why)
                continue
            data = f.read_bytes()
            try:
                w, h, mode = decode(data)
            except ValueError as exc:
                self._bad(f, str(exc))
                continue
            self.sizes.append((w, h))
            self.modes[mode] += 1
            yield n, cls, f, data, hashlib.sha256(data).hexdigest(), ext
        if progress:
            progress("decoding", len(self.files), len(self.files))

    def report(self) -> dict[str, Any]:
        ws = sorted(w for w, _ in self.sizes) or [0]
        hs = sorted(h for _, h in self.sizes) or [0]
        return {
            "files": len(self.files),
            "bad_files": self.n_bad,
            "bad_file_examples": self.bad,
            "image_size": {
                "width": {"min": ws[0], "median": int(statistics.median(ws)), "max": ws[-1]},
                "height": {"min": hs[0], "median": int(statistics.median(hs)), "max": hs[-1]},
            },
            "modes": dict(self.modes),
        }


def source_root(path: Path, max_bytes: int) -> tuple[Path, Path | None]:
    """The folder to scan, and a temporary folder to delete afterwards (for a .zip)."""
    if path.is_dir():
        return path, None
    tmp = Path(tempfile.mkdtemp(prefix="modelmint-zip-"))
    try:
        return unpack_zip(path, tmp, max_bytes), tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def add_image_dataset(
    store: Store,
    datasets_dir: Path,
    name: str,
    path: Path,
    *,
    skip_bad: bool = False,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 0,
    max_bytes: int,
    progress: Progress | None = None,
    all_train: bool = False,
) -> tuple[DatasetRef, dict[str, Any], bool]:
    """Ingest a folder of class folders (or a .zip of one) as an image-classification version
    (``all_train``: corrected rows, see ``VersionBuilder.finish``)."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist; check the path")
    root, tmp = source_root(path, max_bytes)
    folder = datasets_dir / name
    builder = VersionBuilder(folder, redact_pii=False)
    staged = builder.workdir / "images"
    staged.mkdir(mode=0o700)
    images_dir = folder / "images"
    moved: list[Path] = []
    try:
        scan = ImageScan(root)
        if scan.total_bytes > max_bytes:
            raise PayloadTooLarge(
                f"{path.name} holds {scan.total_bytes:,} bytes of files, over the limit of "
                f"{max_bytes:,}; split it or raise MODELMINT_MAX_FILE_BYTES"
            )
        for n, cls, _f, data, sha, ext in scan.images(progress):
            fname = sha + ext
            if not (images_dir / fname).exists() and not (staged / fname).exists():
                (staged / fname).write_bytes(data)
            builder.add(n, sha, cls, None, {"image": fname, "label": cls})
        if scan.n_bad and not skip_bad:
            listed = "; ".join(f"{b['file']}: {b['reason']}" for b in scan.bad[:3])
            raise InvalidInput(
                f"{scan.n_bad} file(s) in {path.name} are not usable images ({listed}); fix or "
                "remove them, or pass --skip-bad to leave them out (they are listed in the audit)"
            )
        if builder.audit.rows == 0:
            raise InvalidInput(f"no images found under {path}; put images in class folders")
        images_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for p in staged.iterdir():
            target = images_dir / p.name
            if not target.exists():
                os.replace(p, target)
                moved.append(target)
        source = {
            "path": str(path.resolve()),
            "format": "zip" if tmp else "folder",
            "classes": [c.name for c in scan.classes],
            "skip_bad": skip_bad,
        }
        return builder.finish(
            store,
            name,
            source=source,
            test_size=test_size,
            validation_size=validation_size,
            seed=seed,
            progress=progress,
            task="image-classification",
            task_reason="a folder of class folders" if not tmp else "a .zip of class folders",
            extra_report={"images": scan.report()},
            all_train=all_train,
        )
    except BaseException:
        for m in moved:
            m.unlink(missing_ok=True)
        raise
    finally:
        builder.cleanup()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
