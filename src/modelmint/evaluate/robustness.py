"""Robustness: the same test examples, perturbed the way real traffic is (typos, casing,
punctuation; for Chinese, full-width/half-width forms and traditional characters), scored
against the clean accuracy. Seeded, so the same model gets the same numbers."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modelmint.modeling import Model
from modelmint.types import Example

_CJK = re.compile(r"[\u3400-\u9fff]")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
MAX_EXAMPLES = 300


def _typos(text: str, rng: random.Random) -> str:
    """About one edit per 10 characters (at least one): swap, drop or double a character."""
    chars = list(text)
    for _ in range(max(1, len(chars) // 10)):
        if len(chars) < 2:
            break
        i = rng.randrange(len(chars) - 1)
        op = rng.choice(("swap", "drop", "double"))
        if op == "swap":
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == "drop":
            del chars[i]
        else:
            chars.insert(i, chars[i])
    return "".join(chars)


def _casing(text: str, rng: random.Random) -> str:
    return text.upper() if rng.random() < 0.5 else text.lower()


def _punctuation(text: str, rng: random.Random) -> str:
    stripped = _PUNCT.sub("", text)
    return stripped if stripped.strip() else text + "!!!"


def _width(text: str, rng: random.Random) -> str:
    """ASCII <-> full-width forms (NFKC folds full-width back; the shift is what users type)."""
    if any("\uff01" <= c <= "\uff5e" for c in text):
        return unicodedata.normalize("NFKC", text)
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


_TRAD: dict[str, str] | None = None


def _traditional(text: str, rng: random.Random) -> str:
    global _TRAD
    if _TRAD is None:
        from snownlp.normal.zh import zh2hans  # traditional -> simplified, from MediaWiki

        _TRAD = {}
        for trad, simp in zh2hans.items():
            if len(trad) == 1 and len(simp) == 1:
                _TRAD.setdefault(simp, trad)
    return "".join(_TRAD.get(c, c) for c in text)


PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "typos": _typos,
    "casing": _casing,
    "punctuation": _punctuation,
    "full/half width": _width,
    "traditional characters": _traditional,
}


def robustness(
    model: Model, examples: Sequence[Example], *, split: str = "test", seed: int = 0
) -> dict[str, Any]:
    """Accuracy under each perturbation on up to 300 test examples (a seeded sample), next to
    the clean accuracy on the same sample. Text classification only."""
    if model.task != "text-classification":
        return {"skipped": f"robustness checks cover text classification, not {model.task}"}
    rows = [e for e in examples if e.split == split]
    rng = random.Random(seed)
    if len(rows) > MAX_EXAMPLES:
        rows = rng.sample(rows, MAX_EXAMPLES)
    texts = [e.text for e in rows]
    truth = np.array([e.label for e in rows])
    labels = np.array(model.labels)

    def accuracy(inputs: list[str]) -> float:
        return float((labels[model.outputs(inputs).argmax(axis=1)] == truth).mean())

    clean = accuracy(texts)
    chinese = sum(bool(_CJK.search(t)) for t in texts) > len(texts) / 2
    out: dict[str, Any] = {"n": len(rows), "clean_accuracy": round(clean, 6), "perturbations": {}}
    for name, fn in PERTURBATIONS.items():
        if name == "traditional characters" and not chinese:
            continue
        if name == "casing" and chinese:
            continue  # Chinese has no case
        try:
            varied = [fn(t, random.Random(f"{seed}:{name}:{i}")) for i, t in enumerate(texts)]
        except ImportError:
            out["perturbations"][name] = {"skipped": "needs the snownlp package"}
            continue
        changed = sum(a != b for a, b in zip(varied, texts, strict=True))
        acc = accuracy(varied)
        out["perturbations"][name] = {
            "accuracy": round(acc, 6),
            "delta": round(acc - clean, 6),
            "changed": changed,
            "example": next((v for v, t in zip(varied, texts, strict=True) if v != t), ""),
        }
    return out
