"""B5 memory: one server process serving 1, 10 and 100 scenarios that share one encoder.

Each scenario is a real, separately trained model: a text head on all-MiniLM-L6-v2 trained on
its own random 300-row sample of SST-2 train (seed = scenario number), registered and promoted
like any other. For each N the server (`modelmint serve --no-worker`, a fresh process) loads and
warms the N production models, then `wrk` (a separate process, benchmarks/loadgen.py) spreads
traffic over all N scenarios at concurrency 32: one SST-2 dev sentence per call, scenario i
gets every N-th call. Recorded: RSS when ready, RSS and peak RSS after the traffic, and the
predictions/s and latency of that traffic.

Target (BENCHMARKS.md, issue 5): RSS with 100 scenarios <= 1.5x RSS with one.

Run:  python benchmarks/b5_scenarios.py [--duration 20] [--quick]
Writes benchmarks/results/b5.json and prints a markdown table. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("B3_DATA", REPO.parent / "shared" / "datasets")) / "sst2"

from benchmarks.loadgen import load_sentences, make_bodies, run_wrk  # noqa: E402

MINILM = "all-MiniLM-L6-v2"


def log(msg: str) -> None:
    print(f"[b5 {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _rss(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)  # MiB
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(home: Path, n: int, rows: int) -> tuple[str, float]:
    """n scenarios s000.. trained on their own samples; returns (API key, seconds)."""
    from modelmint import billing, data
    from modelmint.pipeline import Workspace, train_and_register
    from modelmint.settings import load_settings
    from modelmint.train import TrainConfig

    started = time.perf_counter()
    ws = Workspace.open(load_settings(home=home))
    with (DATA / "train.tsv").open(encoding="utf-8", newline="") as f:
        train = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    config = TrainConfig(base_model=MINILM)
    for i in range(n):
        sample = random.Random(i).sample(train, rows)
        path = home / f"s{i:03d}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows([(r["sentence"], "pos" if r["label"] == "1" else "neg") for r in sample])
        name = f"s{i:03d}"
        data.add_dataset(ws.store, ws.settings.datasets_dir, name, path)
        train_and_register(ws, name, config=config)
        if (i + 1) % 10 == 0 or i == 0:
            log(f"trained {i + 1}/{n} scenarios ({time.perf_counter() - started:.0f} s)")
    billing.create_plan(ws.store, "bench", price_per_1k="1.00", quota=10**12)
    billing.create_tenant(ws.store, "bench", plan="bench")
    key, _ = billing.create_key(ws.store, "bench")
    ws.close()
    return key, time.perf_counter() - started


def promote_first(home: Path, n: int) -> None:
    from modelmint import registry
    from modelmint.pipeline import Workspace
    from modelmint.settings import load_settings

    ws = Workspace.open(load_settings(home=home))
    for i in range(n):
        if ws.store.models.resolve_alias(f"s{i:03d}", "production") is None:
            registry.promote(ws.store, f"s{i:03d}:1", reason="b5")
    ws.close()


def measure(home: Path, key: str, n: int, duration: float, concurrency: int) -> dict[str, Any]:
    import httpx

    port = _free_port()
    env = {**os.environ, "MODELMINT_HOME": str(home)}
    env.pop("MODELMINT_DATABASE_URL", None)
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "modelmint", "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert server.poll() is None, "server exited"
            try:
                r = httpx.get(f"{base}/readyz", timeout=5)
                scenarios = r.json().get("scenarios", {}) if r.status_code == 200 else {}
                if len(scenarios) == n and all(v.get("model") for v in scenarios.values()):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        ready_s = time.perf_counter() - started
        time.sleep(1.0)
        at_ready = _rss(server.pid)
        sentences = load_sentences(DATA / "dev.tsv")
        bodies = make_bodies(sentences)
        paths = [f"/v1/scenarios/s{i % n:03d}/predict" for i in range(len(bodies))]
        headers = {"Authorization": f"Bearer {key}"}
        run_wrk(f"{base}/v1/scenarios/s000/predict", bodies, headers, concurrency, 3, paths=paths)
        load = run_wrk(
            f"{base}/v1/scenarios/s000/predict", bodies, headers, concurrency, duration, paths=paths
        )
        after = _rss(server.pid)
        metrics = httpx.get(f"{base}/metrics").text
    finally:
        server.terminate()
        server.wait(30)
    batches = [ln for ln in metrics.splitlines() if ln.startswith("modelmint_batch_size_count{")]
    return {
        "scenarios": n,
        "ready_s": round(ready_s, 1),
        "rss_ready_mib": at_ready["VmRSS"],
        "rss_after_mib": after["VmRSS"],
        "rss_peak_mib": after["VmHWM"],
        "predictions_per_s": load["ok_per_s"],
        "p50_ms": load["p50_ms"],
        "p99_ms": load["p99_ms"],
        "non2xx": load["non2xx"],
        "socket_errors": load["socket_errors_total"],
        "batchers": batches,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="1 and 3 scenarios, 3 s of traffic")
    ap.add_argument("--home", type=Path, help="reuse a home built by an earlier run (key.txt)")
    a = ap.parse_args()
    counts = [1, 3] if a.quick else [1, 10, 100]
    duration = 3 if a.quick else a.duration
    if a.home and (a.home / "key.txt").exists():
        home, build_s = a.home, 0.0
        key = (home / "key.txt").read_text().strip()
    else:
        home = a.home or Path(tempfile.mkdtemp(prefix="b5-home-"))
        home.mkdir(parents=True, exist_ok=True)
        log(f"home {home}; training {max(counts)} scenarios")
        key, build_s = build(home, max(counts), a.rows)
        (home / "key.txt").write_text(key)
    promote_first(home, 1)
    log("priming: one server start exports the encoder's ONNX graph to the cache (not measured)")
    measure(home, key, 1, 2, a.concurrency)
    results = []
    for n in counts:
        promote_first(home, n)
        log(f"measuring {n} scenario(s)")
        r = measure(home, key, n, duration, a.concurrency)
        log(json.dumps(r))
        results.append(r)
    base = results[0]["rss_after_mib"]
    for r in results:
        r["rss_vs_one"] = round(r["rss_after_mib"] / base, 3)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    out = {
        "benchmark": "b5_scenarios",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "setup": {
            "encoder": MINILM,
            "rows_per_scenario": a.rows,
            "concurrency": a.concurrency,
            "duration_s": duration,
            "build_s": round(build_s, 1),
        },
        "results": results,
    }
    name = "b5-quick.json" if a.quick else "b5.json"
    (HERE / "results" / name).write_text(json.dumps(out, indent=2) + "\n")
    print(
        "| scenarios | RSS ready | RSS after traffic | peak RSS | × one | predictions/s | p50 | p99 | non-2xx |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['scenarios']} | {r['rss_ready_mib']} MiB | {r['rss_after_mib']} MiB | "
            f"{r['rss_peak_mib']} MiB | {r['rss_vs_one']} | {r['predictions_per_s']} | "
            f"{r['p50_ms']} ms | {r['p99_ms']} ms | {r['non2xx']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
