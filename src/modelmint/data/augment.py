"""Augmentation: extra training rows made from the train split only, marked as augmented.

Text: random deletion and random swap of words, and synonym replacement when a lexicon is given
(none ships offline, so it is opt-in). Chinese has no spaces: words come from snownlp's
segmenter when it is installed, and the rules back off to single characters when it is not.
Images: horizontal flip, a random crop of 85-95% resized back, and a rotation of up to 10°.
Augmented rows never enter validation or test, so evaluation stays honest.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelmint.errors import InvalidInput
from modelmint.types import Example

_CJK = re.compile(r"[\u3400-\u9fff]")


def _segment(text: str) -> tuple[list[str], str]:
    """Words and the joiner to put them back together."""
    if _CJK.search(text):
        try:
            from snownlp import SnowNLP

            return list(SnowNLP(text).words), ""
        except ImportError:
            return list(text), ""  # back-off: characters
    return text.split(), " "


def load_lexicon(path: Path) -> dict[str, list[str]]:
    """A synonym lexicon: one line per word, `word<TAB>synonym1,synonym2`."""
    lex: dict[str, list[str]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        word, _, syns = line.partition("\t")
        options = [s.strip() for s in syns.split(",") if s.strip()]
        if not options:
            raise InvalidInput(f"{path.name} line {n} has no synonyms; write word<TAB>syn1,syn2")
        lex[word.strip()] = options
    return lex


def augment_text(text: str, rng: random.Random, lexicon: dict[str, list[str]] | None = None) -> str:
    words, joiner = _segment(text)
    if len(words) < 3:
        return text
    ops: list[Callable[[list[str]], list[str]]] = [
        lambda w: _delete(w, rng),
        lambda w: _swap(w, rng),
    ]
    if lexicon:
        ops.append(lambda w: _synonyms(w, lexicon, rng))
    out = rng.choice(ops)(words)
    if out == words:  # the chosen op found nothing to do: fall back to a swap
        out = _swap(words, rng)
    return joiner.join(out)


def _delete(words: list[str], rng: random.Random, p: float = 0.12) -> list[str]:
    kept = [w for w in words if rng.random() > p]
    return kept or [rng.choice(words)]


def _swap(words: list[str], rng: random.Random) -> list[str]:
    out = list(words)
    for _ in range(max(1, len(words) // 10)):
        i, j = rng.randrange(len(out)), rng.randrange(len(out))
        out[i], out[j] = out[j], out[i]
    return out


def _synonyms(words: list[str], lexicon: dict[str, list[str]], rng: random.Random) -> list[str]:
    return [rng.choice(lexicon[w]) if w in lexicon and rng.random() < 0.5 else w for w in words]


def augment_image(data: bytes, rng: random.Random) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB") if im.mode not in ("L", "RGB") else im.copy()
        op = rng.choice(["flip", "crop", "rotate"])
        if op == "flip":
            im = ImageOps.mirror(im)
        elif op == "crop":
            f = rng.uniform(0.85, 0.95)
            w, h = im.size
            cw, ch = max(1, int(w * f)), max(1, int(h * f))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            im = im.crop((x, y, x + cw, y + ch)).resize((w, h))
        else:
            im = im.rotate(rng.uniform(-10, 10), resample=Image.Resampling.BILINEAR, fillcolor=0)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()


def augment_examples(
    examples: list[Example],
    task: str,
    *,
    copies: int,
    seed: int,
    images_dir: Path | None = None,
    lexicon: dict[str, list[str]] | None = None,
) -> list[Example]:
    """New rows (source='augmented', split='train') made from the train split."""
    if copies < 1:
        raise InvalidInput("--copies must be at least 1")
    text_tasks = ("text-classification", "multi-label", "text-regression")
    if task not in (*text_tasks, "image-classification"):
        raise InvalidInput(
            f"augmentation is for text and image tasks, not {task}; leave the data as it is"
        )
    rng = random.Random(seed)
    seen = {e.text for e in examples} if task in text_tasks else set()
    out: list[Example] = []
    for e in examples:
        if e.split != "train" or e.source == "augmented":
            continue
        for _ in range(copies):
            if task in text_tasks:
                t = augment_text(e.text, rng, lexicon)
                if t in seen:  # an augmentation equal to a real row adds nothing (or leaks)
                    continue
                seen.add(t)
                out.append(Example.from_record({**e.to_record(), "text": t, "source": "augmented"}))
            else:
                assert images_dir is not None
                blob = augment_image((images_dir / e.image).read_bytes(), rng)
                name = hashlib.sha256(blob).hexdigest() + ".png"
                target = images_dir / name
                if not target.exists():
                    target.write_bytes(blob)
                out.append(
                    Example.from_record({**e.to_record(), "image": name, "source": "augmented"})
                )
    return out


def augment_version(
    store: Any,
    datasets_dir: Path,
    name: str,
    version: int | None = None,
    *,
    copies: int = 1,
    seed: int = 0,
    lexicon_path: Path | None = None,
) -> tuple[Any, dict[str, Any], bool]:
    """The version plus augmented train rows, stored as a new version with lineage."""
    from modelmint.data.audit import audit_rows
    from modelmint.data.snapshot import read_examples, store_version

    parent = store.datasets.get(name, version)
    path = Path(parent["path"])
    examples = read_examples(path)
    lexicon = load_lexicon(lexicon_path) if lexicon_path else None
    extra = augment_examples(
        examples,
        parent["task"],
        copies=copies,
        seed=seed,
        images_dir=path.parent / "images",
        lexicon=lexicon,
    )
    if not extra:
        raise InvalidInput("augmentation produced no new rows (texts too short?); nothing stored")
    rows = examples + extra
    audit = audit_rows(
        [
            {"text": e.text or e.image, "label": e.label or "|".join(e.labels) or str(e.target)}
            for e in rows
        ]
    )
    audit["augmented_rows"] = len(extra)
    fix = {
        "fix": "augment",
        "copies": copies,
        "seed": seed,
        "rows": len(extra),
        "lexicon": str(lexicon_path) if lexicon_path else None,
    }
    audit["fixes"] = [fix]
    ref, created = store_version(
        store,
        datasets_dir,
        name,
        rows,
        audit=audit,
        source={"kind": "augment", "parent": f"{name}:{parent['version']}", "fixes": [fix]},
        parent_id=parent["id"],
        task=parent["task"],
    )
    return ref, audit, created
