"""Token classification (entities) with a linear-chain CRF (python-crfsuite).

Chinese is tagged per character (word tokens and their BIO tags are split into characters at
training time), so a served sentence needs no word segmenter; other languages are tagged per
word. The CRF is stored in crfsuite's own binary format (``crf.model``, not pickle)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import InvalidInput
from modelmint.modeling.base import Model
from modelmint.types import Example, Prediction

MODEL_FILE = "crf.model"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[^\w\s]", re.UNICODE)


def is_cjk_corpus(token_lists: list[list[str]]) -> bool:
    chars = "".join(t for toks in token_lists[:2000] for t in toks)
    return bool(chars) and len(_CJK.findall(chars)) / len(chars) > 0.5


def to_chars(tokens: list[str], tags: list[str]) -> tuple[list[str], list[str]]:
    """Word tokens with BIO tags -> characters with BIO tags."""
    chars, ctags = [], []
    for tok, tag in zip(tokens, tags, strict=True):
        for k, ch in enumerate(tok):
            chars.append(ch)
            if tag == "O" or k == 0:
                ctags.append(tag)
            else:
                ctags.append("I-" + tag[2:])
    return chars, ctags


def tokenize(text: str, chars: bool) -> list[str]:
    if chars:
        return [c for c in text if not c.isspace()]
    return _WORD.findall(text)


def _shape(t: str) -> str:
    if _CJK.match(t):
        return "cjk"
    if t.isdigit():
        return "digit"
    if t.isupper():
        return "upper"
    if t[:1].isupper():
        return "title"
    if t.isalpha():
        return "lower"
    return "other"


def features(tokens: list[str]) -> list[list[str]]:
    """crfsuite features per token: the token, its affixes and shape, and a +-2 window."""
    out = []
    n = len(tokens)
    for i, t in enumerate(tokens):
        low = t.lower()
        f = ["bias", "w=" + low, "shape=" + _shape(t), "p3=" + low[:3], "s3=" + low[-3:]]
        for d in (-2, -1, 1, 2):
            j = i + d
            if 0 <= j < n:
                f.append(f"w[{d}]=" + tokens[j].lower())
                f.append(f"shape[{d}]=" + _shape(tokens[j]))
            else:
                f.append(f"w[{d}]=<pad>")
        if i > 0:
            f.append("bi[-1]=" + tokens[i - 1].lower() + "|" + low)
        if i < n - 1:
            f.append("bi[+1]=" + low + "|" + tokens[i + 1].lower())
        out.append(f)
    return out


def entities(tokens: list[str], tags: list[str], joiner: str) -> list[dict[str, Any]]:
    """BIO tags -> spans: type, text, start and end (token offsets, end exclusive). An I- tag
    that does not continue an entity of its type starts one (conlleval's reading)."""
    spans: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for i, tag in enumerate([*tags, "O"]):
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        if cur is not None and (kind != cur["type"] or tag.startswith("B-")):
            cur["end"] = i
            cur["text"] = joiner.join(tokens[cur["start"] : i])
            spans.append(cur)
            cur = None
        if kind is not None and cur is None:
            cur = {"type": kind, "start": i}
    return [{k: s[k] for k in ("type", "text", "start", "end")} for s in spans]


def span_f1(y_true: list[list[str]], y_pred: list[list[str]]) -> dict[str, Any]:
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    per_type = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    return {
        "precision": round(float(precision_score(y_true, y_pred, zero_division=0)), 6),
        "recall": round(float(recall_score(y_true, y_pred, zero_division=0)), 6),
        "f1": round(float(f1_score(y_true, y_pred, zero_division=0)), 6),
        "per_type": {
            k: {m: round(float(v[m]), 6) for m in ("precision", "recall", "f1-score", "support")}
            for k, v in per_type.items()
            if "avg" not in k
        },
    }


class CRFModel(Model):
    kind = "crf"

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        super().__init__(path, config)
        import pycrfsuite

        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(path / MODEL_FILE))
        self.chars = config.get("tokenization") == "chars"

    def input_of(self, example: Example) -> Any:
        return list(example.tokens)

    def parse_input(self, value: Any, i: int) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and all(isinstance(t, str) and t for t in value):
            return value
        raise InvalidInput(
            f"input {i} must be a text or a non-empty list of token strings for entity tagging"
        )

    def log_text(self, value: Any) -> str:
        return value if isinstance(value, str) else " ".join(value)

    def _tokens(self, value: Any) -> list[str]:
        if isinstance(value, str):
            return tokenize(value, self.chars)
        if self.chars:  # word tokens of a CJK sentence: tag their characters
            return [c for t in value for c in t]
        return list(value)

    def outputs(self, inputs: list[Any], cache: Any = None, progress: Any = None) -> Any:
        out = []
        for k, v in enumerate(inputs):
            toks = self._tokens(v)
            out.append((toks, self._tagger.tag(features(toks)) if toks else []))
            if progress and k % 200 == 0:
                progress(k, len(inputs))
        return out

    def to_predictions(self, outputs: Any, inputs: list[Any] | None = None) -> list[Prediction]:
        preds = []
        for toks, tags in outputs:
            ents = entities(toks, tags, "" if self.chars else " ")
            preds.append(
                Prediction(
                    label=",".join(sorted({e["type"] for e in ents})),
                    score=float(self._marginal(toks, tags)),
                    scores={},
                    entities=tuple(ents),
                )
            )
        return preds

    def _marginal(self, toks: list[str], tags: list[str]) -> float:
        if not toks:
            return 1.0
        self._tagger.set(features(toks))
        return float(self._tagger.probability(tags))  # of the whole predicted tag sequence

    def explain(self, value: Any, top_k: int = 8) -> list[dict[str, Any]]:
        """The strongest state features of the model for the tags it predicts."""
        toks = self._tokens(value)
        tags = self._tagger.tag(features(toks)) if toks else []
        info = self._tagger.info().state_features
        found = []
        for tok_feats, tag in zip(features(toks), tags, strict=True):
            for f in tok_feats:
                w = info.get((f, tag))
                if w is not None and tag != "O":
                    found.append({"feature": f, "tag": tag, "weight": round(float(w), 6)})
        found.sort(key=lambda d: -abs(d["weight"]))
        return found[:top_k]


def load_crf(path: Path, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Model:
    return CRFModel(path, config)
