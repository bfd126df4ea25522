"""Token classification: a linear-chain CRF (python-crfsuite), its L2 strength picked on the
validation split by span-level F1."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from modelmint.errors import InvalidInput
from modelmint.modeling import save_model_dir
from modelmint.modeling.tokens import MODEL_FILE, features, is_cjk_corpus, span_f1, to_chars
from modelmint.train.config import TrainConfig
from modelmint.train.head import Progress, split_examples
from modelmint.types import Example, TrainResult

logger = logging.getLogger(__name__)


def train_tokens(
    examples: list[Example],
    config: TrainConfig,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
) -> TrainResult:
    import pycrfsuite

    started = time.perf_counter()
    train, val = split_examples(examples)
    chars = is_cjk_corpus([list(e.tokens) for e in train])

    def seqs(rows: list[Example]) -> list[tuple[list[str], list[str]]]:
        out = []
        for e in rows:
            toks, tags = list(e.tokens), list(e.tags)
            if chars:
                toks, tags = to_chars(toks, tags)
            out.append((toks, tags))
        return out

    tr, va = seqs(train), seqs(val)
    tag_set = sorted({t for _, tags in tr for t in tags})
    if tag_set == ["O"] or not tag_set:
        raise InvalidInput("no training sentence has an entity tag; check the tags column")
    xs = [features(t) for t, _ in tr]
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    best: tuple[float, float, dict[str, Any]] | None = None
    curve = []
    grid = [c for c in (0.01, 0.1, 1.0) if c]  # L2 strengths
    for k, c2 in enumerate(grid):
        if progress:
            progress("fitting CRF", k, len(grid))
        trainer = pycrfsuite.Trainer(verbose=False)
        for x, (_, y) in zip(xs, tr, strict=True):
            trainer.append(x, y)
        trainer.set_params(
            {"c1": 0.05, "c2": c2, "max_iterations": 150, "feature.possible_transitions": True}
        )
        candidate = out_dir / f"{MODEL_FILE}.c2-{c2}"
        trainer.train(str(candidate))
        tagger = pycrfsuite.Tagger()
        tagger.open(str(candidate))
        pred = [tagger.tag(features(t)) for t, _ in va]
        tagger.close()
        scores = span_f1([y for _, y in va], pred)
        curve.append({"c2": c2, "validation_span_f1": scores["f1"]})
        if best is None or scores["f1"] > best[0]:
            best = (scores["f1"], c2, scores)
    if progress:
        progress("fitting CRF", len(grid), len(grid))
    assert best is not None
    for c2 in grid:
        cand = out_dir / f"{MODEL_FILE}.c2-{c2}"
        if c2 == best[1]:
            cand.rename(out_dir / MODEL_FILE)
        else:
            cand.unlink()
    validation = {
        "span_precision": best[2]["precision"],
        "span_recall": best[2]["recall"],
        "span_f1": best[2]["f1"],
        "c2": best[1],
    }
    entity_types = sorted({t[2:] for t in tag_set if t != "O"})
    save_model_dir(
        out_dir,
        config={
            "format": "modelmint-model-v1",
            "kind": "crf",
            "task": "token-classification",
            "labels": entity_types,
            "tags": tag_set,
            "tokenization": "chars" if chars else "words",
            "base_model": "crf",
            "train_config": config.to_dict(),
            "validation": validation,
            "selection_curve": curve,
            "n_train": len(train),
            "n_validation": len(val),
            **(metadata or {}),
        },
    )
    seconds = time.perf_counter() - started
    logger.info("trained CRF on %d sentences in %.1fs", len(train), seconds)
    return TrainResult(
        model_dir=out_dir,
        labels=tuple(entity_types),
        n_train=len(train),
        n_validation=len(val),
        validation_metrics=validation,
        seconds=seconds,
        embed_cache_hits=0,
        embed_cache_misses=0,
    )
