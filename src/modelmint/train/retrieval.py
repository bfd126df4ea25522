"""FAQ retrieval: index the known questions; with ``--method full``, first fine-tune the
encoder contrastively on (question, question) pairs that share an answer and (question,
answer) pairs, with in-batch negatives (the multiple-negatives ranking loss of
sentence-transformers, written on the shared training loop)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from modelmint.errors import InvalidInput
from modelmint.modeling import EmbeddingCache, embed_with_cache, get_encoder, save_model_dir
from modelmint.modeling.encoders import hf_path, nfkc, quiet_transformers
from modelmint.modeling.retrieval import ENCODER_DIR
from modelmint.train import loop
from modelmint.train.config import TrainConfig
from modelmint.train.head import Progress, split_examples
from modelmint.types import Example, TrainResult

SCALE = 20.0  # cosine similarities times 20, as in sentence-transformers' MNRL


def _top1(q: np.ndarray, index: np.ndarray, index_ids: np.ndarray, truth: np.ndarray) -> float:
    if len(truth) == 0:
        return 0.0
    return float((index_ids[(q @ index.T).argmax(axis=1)] == truth).mean())


def train_faq(
    examples: list[Example],
    config: TrainConfig,
    out_dir: Path,
    *,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
    checkpoint: Path | None = None,
) -> TrainResult:
    started = time.perf_counter()
    train, val = split_examples(examples)
    answers = sorted({e.label for e in train} | {e.label for e in val})
    aid = {a: i for i, a in enumerate(answers)}
    curve: list[dict[str, Any]] = []
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    base = config.base_model
    if config.method == "full":
        _finetune(train, val, aid, config, out_dir / ENCODER_DIR, progress, checkpoint, curve)
        encoder = get_encoder(str(out_dir / ENCODER_DIR))
    elif config.method == "head":
        encoder = get_encoder(base)
    else:
        raise InvalidInput("FAQ retrieval trains with --method head (index only) or full")
    known = train + val
    x, hits, misses = embed_with_cache(
        encoder,
        [e.text for e in known],
        config.max_tokens,
        cache if config.method == "head" else None,
        progress=(lambda d, t: progress("indexing", d, t)) if progress else None,
    )
    ids = np.array([aid[e.label] for e in known])
    n_train = len(train)
    val_acc = _top1(x[n_train:], x[:n_train], ids[:n_train], ids[n_train:])
    validation = {"accuracy": round(val_acc, 6), "index_size": len(known)}
    save_model_dir(
        out_dir,
        tensors={"index": x.astype(np.float32), "answer_ids": ids.astype(np.int64)},
        config={
            "format": "modelmint-model-v1",
            "kind": "retrieval",
            "task": "faq",
            "labels": answers,
            "questions": [e.text for e in known],
            "base_model": base,
            "max_tokens": config.max_tokens,
            "train_config": config.to_dict(),
            "validation": validation,
            "learning_curve": curve,
            "n_train": len(train),
            "n_validation": len(val),
            **(metadata or {}),
        },
    )
    return TrainResult(
        model_dir=out_dir,
        labels=tuple(answers),
        n_train=len(train),
        n_validation=len(val),
        validation_metrics=validation,
        seconds=time.perf_counter() - started,
        embed_cache_hits=hits,
        embed_cache_misses=misses,
    )


def _finetune(train, val, aid, config, out: Path, progress, checkpoint, curve) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    quiet_transformers()
    loop.seed_everything(config.seed)
    path = hf_path(config.base_model)
    tok = AutoTokenizer.from_pretrained(path)
    net = AutoModel.from_pretrained(path)
    by_answer: dict[str, list[str]] = {}
    for e in train:
        by_answer.setdefault(e.label, []).append(e.text)
    pairs = [(e.text, e.label) for e in train]  # question -> its answer text
    for qs in by_answer.values():
        pairs += [(qs[i], qs[i + 1]) for i in range(len(qs) - 1)]  # paraphrases
    bs = min(config.batch_size, len(pairs))

    def enc(texts: list[str]) -> dict[str, Any]:
        return tok(
            [nfkc(t) for t in texts],
            padding=True,
            truncation=True,
            max_length=config.max_tokens,
            return_tensors="pt",
        )

    def pool(n, ids, mask):
        h = n(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)

    def batches(epoch: int):
        order = list(range(len(pairs)))
        random.Random(config.seed * 1000 + epoch).shuffle(order)
        for i in range(0, len(order) - 1, bs):
            chunk = [pairs[j] for j in order[i : i + bs]]
            a, b = enc([p[0] for p in chunk]), enc([p[1] for p in chunk])
            inputs = {
                "a_ids": a["input_ids"],
                "a_mask": a["attention_mask"],
                "b_ids": b["input_ids"],
                "b_mask": b["attention_mask"],
            }
            yield inputs, torch.arange(len(chunk))

    def forward(n, inp):
        return SCALE * pool(n, inp["a_ids"], inp["a_mask"]) @ pool(n, inp["b_ids"], inp["b_mask"]).T

    def embed(texts: list[str]) -> np.ndarray:
        outs = []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                e = enc(texts[i : i + 64])
                outs.append(
                    pool(
                        net, e["input_ids"].to(loop.device()), e["attention_mask"].to(loop.device())
                    )
                    .cpu()
                    .numpy()
                )
        return np.concatenate(outs) if outs else np.zeros((0, 1))

    def evaluate() -> float:
        index = embed([e.text for e in train])
        q = embed([e.text for e in val])
        return _top1(
            q, index, np.array([aid[e.label] for e in train]), np.array([aid[e.label] for e in val])
        )

    state = loop.fit(
        net,
        batches=batches,
        steps_per_epoch=max(1, (len(pairs) + bs - 1) // bs),
        evaluate=evaluate,
        forward=forward,
        config=config,
        lr=config.learning_rate or 2e-5,
        progress=progress,
        checkpoint=checkpoint,
        epochs=config.epochs_for(3),
    )
    curve.extend(state["curve"])
    net.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
