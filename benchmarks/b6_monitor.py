"""B6 monitor: a drift report over 10k, 100k and 1M logged predictions, time and peak memory,
side by side with Evidently and NannyML on the same reference and current data, and whether all
reach the same verdicts: (i) text embeddings (384 dimensions, all-MiniLM-L6-v2) and (ii) a tabular
scenario (20 mixed columns, a shift planted in 4 of them).

    python benchmarks/b6_monitor.py                       # both kinds, 10k, 100k, 1M
    python benchmarks/b6_monitor.py --kinds tabular       # one kind
    python benchmarks/b6_monitor.py --sizes 10000 --quick # smoke
    python benchmarks/b6_monitor.py --peers evidently --rounds 1
    EVIDENTLY_PYTHON=/path/bin/python NANNYML_PYTHON=/path/bin/python python benchmarks/b6_monitor.py

Embeddings, per size n: a pool of real embeddings (all-MiniLM-L6-v2, ModelMint's encoder) of
3,000 SST-2 training sentences and 1,000 banking77 questions, computed once; the reference is n
draws from the SST-2 pool, the current n draws of which 20% come from banking77 (a shift of
domain), each draw plus Gaussian noise (sd 0.01 per dimension) so that rows are distinct.
ModelMint profiles the reference as training does (principal components and a projected
sample), logs each current row's 33-number payload (float16) as serving does, and reads the
window back: the domain classifier's verdict. Evidently (legacy API, the only one with
embeddings in 0.7): `EmbeddingsDriftMetric` with its default method (a domain classifier, ROC
AUC > 0.55) on the full 384 columns of both tables. Also, at the smallest size, an undrifted
current (all SST-2) for the verdict "no drift" on both sides.

What runs, per size n (reference rows = current rows = n, as in the issue's Evidently figure):
- data, seeded (numpy): 14 numeric columns (normal, log-normal, uniform, counts) and 6
  categorical (3 to 13 levels, skewed); the current rows shift num_0 by half a standard
  deviation, scale num_1 by 1.3, move num_2's range by 10%, and change cat_0's level mix.
- ModelMint, two fresh processes: `prepare` profiles the reference (what training does once per
  version, timed apart) and fills a SQLite prediction log with the n current rows' drift payloads
  (what serving writes, untimed); `report` reads the window from the log and builds the report
  (`monitor.service.read_window` + `monitor.build_report`, the code behind `modelmint monitor`):
  its wall time and the process's peak RSS. Also the last 10,000 of the same log, to show that a
  report costs its window, not the log.
- Evidently 0.7.23 in its own venv (it needs pandas < 3): `Report([DataDriftPreset()])` on the
  same two tables read from parquet; the report's run time and the process's peak RSS.
- NannyML 0.13.1 in its own venv (benchmarks/peers/nannyml_drift.py): its univariate drift at
  its defaults (10 chunks, thresholds from the reference's chunks; a column drifted when any
  current chunk alerts), and its domain classifier for the embeddings at 10k only, one round
  (it took 214 s there; larger sizes would pass the 10-minute cap).

Each system's report runs `--rounds` times (3) on the same prepared data, each in a fresh
process; a speedup is the peer's fastest round over ModelMint's slowest (the worst pairing).

Results: benchmarks/results/b6.json (appended); a summary on stdout."""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results"
PLANTED = ("num_0", "num_1", "num_2", "cat_0")
SCENARIO = "b6"
DATASETS = ROOT.parent / "shared" / "datasets"
POOL_SST2, POOL_BANKING, SHIFT_SHARE, NOISE = 3000, 1000, 0.2, 0.01
EMBEDDING_CAP_S = 600  # a peer's embedding report is stopped after this long (10 min)
# NannyML's domain classifier (LightGBM, 5-fold, per chunk) took 214 s at 10k x 384 here: one
# round at 10k only; 10x the rows would pass the cap and 3 rounds would take the hour
NANNYML_EMBEDDINGS_MAX = 10_000
NANNYML_SKIPPED = "NannyML's embedding check runs at 10k only (214 s there, one round)"


# --- data ------------------------------------------------------------------------------------
def make(n: int, seed: int, shifted: bool):
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for j in range(14):
        kind = j % 4
        if kind == 0:
            x = rng.normal(50 + j, 10, n)
        elif kind == 1:
            x = rng.lognormal(3, 0.6, n)
        elif kind == 2:
            x = rng.uniform(0, 100, n)
        else:
            x = rng.poisson(8 + j, n).astype(float)
        cols[f"num_{j}"] = x
    for j in range(6):
        k = 3 + 2 * j
        weights = 1 / np.arange(1, k + 1)
        if shifted and j == 0:
            weights = weights[::-1]
        cols[f"cat_{j}"] = rng.choice([f"L{i}" for i in range(k)], n, p=weights / weights.sum())
    if shifted:
        cols["num_0"] = cols["num_0"] + 5
        cols["num_1"] = cols["num_1"] * 1.3
        cols["num_2"] = cols["num_2"] + 10
    return pd.DataFrame(cols)


# --- ModelMint, in child processes -----------------------------------------------------------
def prepare(ref_path: str, cur_path: str, home: str) -> dict:
    import pandas as pd

    from modelmint import monitor

    reference = pd.read_parquet(ref_path)
    began = time.perf_counter()
    ref = monitor.build("tabular-classification", ["0", "1"], reference.to_dict("records"))
    profile_s = time.perf_counter() - began
    ref.save(Path(home))
    del reference
    current = pd.read_parquet(cur_path)
    # the payload serving writes (Reference.encode_rows), built column-wise for speed
    payload = np.full((len(current), len(ref.features)), np.nan, dtype=np.float32)
    for j, name in enumerate(ref.features):
        col = ref.columns[name]
        if col.kind == "categorical":
            index = {v: i for i, v in enumerate(col.counts or {})}
            payload[:, j] = [index.get(v, -1) for v in current[name]]
        else:
            payload[:, j] = current[name].to_numpy(dtype=np.float32)
    fill_s = fill_log(home, payload)
    return {"profile_seconds": round(profile_s, 2), "fill_seconds": round(fill_s, 2)}


def report(home: str, last: int) -> dict:
    from modelmint import monitor
    from modelmint.monitor.report import Thresholds
    from modelmint.monitor.service import read_window
    from modelmint.store import open_store

    ref = monitor.Reference.load(Path(home))
    store = open_store(f"sqlite:///{home}/b6.db")
    import scipy.stats  # noqa: F401  imports untimed, as the peers' scripts import theirs
    import sklearn.linear_model  # noqa: F401

    began = time.perf_counter()
    spec = monitor.parse_window(str(last))
    # as `modelmint monitor` reads it: a tabular reference needs the payload, not the texts
    window, labels = read_window(store, SCENARIO, spec, datetime.now(UTC), with_text=False)
    read_s = time.perf_counter() - began
    out = monitor.build_report(
        ref, window, labels, scenario=SCENARIO, version=1, thresholds=Thresholds()
    )
    seconds = time.perf_counter() - began
    cols = out["inputs"]["columns"]
    emb = out["inputs"].get("embedding")
    return {
        "seconds": round(seconds, 3),
        "read_seconds": round(read_s, 3),
        "rows": len(window),
        "share": out["inputs"]["drifted_share"],
        "columns": {
            k: {"method": c["method"], "value": c["statistic"], "drifted": c["drifted"]}
            for k, c in cols.items()
        },
        "embedding": None
        if emb is None
        else {
            "method": emb["method"],
            "value": emb["statistic"],
            "threshold": emb["threshold"],
            "drifted": emb["drifted"],
        },
    }


# --- embeddings -------------------------------------------------------------------------------
def embed_pool(path: str) -> dict:
    """Real embeddings of SST-2 sentences and banking77 questions (ModelMint's encoder), saved
    to `path` (.npz)."""
    import csv

    from modelmint.modeling.encoders import get_encoder

    with open(DATASETS / "sst2" / "train.tsv", encoding="utf-8") as f:
        sst2 = [r["sentence"] for r in csv.DictReader(f, delimiter="\t")]
    sst2 = sorted({t.strip() for t in sst2 if len(t.split()) >= 6})[:POOL_SST2]
    with open(DATASETS / "banking77" / "train.csv", encoding="utf-8") as f:
        banking = sorted({r["text"].strip() for r in csv.DictReader(f)})[:POOL_BANKING]
    enc = get_encoder("all-MiniLM-L6-v2")
    began = time.perf_counter()
    a = enc.embed(sst2, 128).astype(np.float32)
    b = enc.embed(banking, 128).astype(np.float32)
    np.savez(path, sst2=a, banking=b)
    return {"embed_seconds": round(time.perf_counter() - began, 1), "dims": int(a.shape[1])}


def draw(pool_path: str, n: int, seed: int, shift: float) -> np.ndarray:
    pool = np.load(pool_path)
    rng = np.random.default_rng(seed)
    k = round(n * shift)
    rows = np.vstack(
        [
            pool["sst2"][rng.integers(0, len(pool["sst2"]), n - k)],
            pool["banking"][rng.integers(0, len(pool["banking"]), k)],
        ]
    )
    rows = rows[rng.permutation(n)]
    rows += rng.normal(0, NOISE, rows.shape).astype(np.float32)
    return rows


def write_embeddings(pool_path: str, n: int, tmp: str, shift: float) -> tuple[str, str]:
    """Reference and current tables as .npy (ModelMint) and parquet (Evidently)."""
    import pandas as pd

    out = []
    for name, seed, sh in (("ref", 1, 0.0), ("cur", 2, shift)):
        x = draw(pool_path, n, seed, sh)
        np.save(f"{tmp}/{name}.npy", x)
        pd.DataFrame(x, columns=[f"e{i}" for i in range(x.shape[1])]).to_parquet(
            f"{tmp}/{name}.parquet"
        )
        out.append(f"{tmp}/{name}")
        del x
    return out[0], out[1]


def prepare_embeddings(ref_path: str, cur_path: str, home: str) -> dict:
    from modelmint.monitor.reference import Embedding, Reference

    reference = np.load(ref_path + ".npy")
    began = time.perf_counter()
    ref = Reference(task="text-classification", labels=["0", "1"], n=len(reference))
    ref.embedding = Embedding.fit(reference, np.random.default_rng(0))
    profile_s = time.perf_counter() - began
    ref.save(Path(home))
    del reference
    current = np.load(cur_path + ".npy")
    payload = ref.embedding.project(current).astype(np.float16)  # what serving logs
    del current
    fill_s = fill_log(home, payload)
    return {"profile_seconds": round(profile_s, 2), "fill_seconds": round(fill_s, 2)}


def fill_log(home: str, payload: np.ndarray) -> float:
    """The prediction log of SCENARIO with one row per payload row (untimed by the report)."""
    from modelmint import audit, billing
    from modelmint.store import new_id, open_store
    from modelmint.store import tables as t

    # the plan and tenant are audited: the log needs a key (the report only reads)
    store = open_store(f"sqlite:///{home}/b6.db", audit_key=audit.derive_key("b6-" + "k" * 40))
    billing.create_plan(store, "p", price_per_1k="1.00")
    tenant = billing.create_tenant(store, "t", plan="p")
    start = datetime(2026, 12, 1, tzinfo=UTC)
    began = time.perf_counter()
    step = 20_000
    for a in range(0, len(payload), step):
        rows = [
            dict(
                id=new_id(),
                request_id=new_id(),
                tenant_id=tenant["id"],
                key_id="b6",
                scenario=SCENARIO,
                model_version=1,
                input_text="",
                label="1",
                score=0.9,
                latency_ms=1.0,
                created_at=start + timedelta(milliseconds=i),
                drift=payload[i].tobytes(),
            )
            for i in range(a, min(a + step, len(payload)))
        ]
        with store.db.write() as c:
            c.execute(t.predictions.insert(), rows)
    store.close()
    return time.perf_counter() - began


def peak_of(
    args: list[str], python: str = sys.executable, timeout: float | None = None
) -> tuple[dict, float]:
    """A child's answer and its own peak RSS in MiB (a wrapper process runs it and reads the
    ru_maxrss of its one child, so each measurement is of that child alone)."""
    wrapper = (
        "import json,resource,subprocess,sys;"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "sys.stderr.write(p.stderr);"
        "print(json.dumps({'out':p.stdout,'rc':p.returncode,"
        "'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))"
    )
    # its own session, so that a timeout stops the measured child too, not only the wrapper
    proc = subprocess.Popen(
        [sys.executable, "-c", wrapper, python, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    proc = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise RuntimeError(f"{args[:3]} failed: {proc.stderr[-2000:]}")
    return json.loads(res["out"].strip().splitlines()[-1]), round(res["rss"], 1)


def git_state() -> dict:
    def run(*a: str) -> str:
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT).stdout.strip()

    dirty = [x for x in run("status", "--porcelain").splitlines() if x]
    return {"commit": run("rev-parse", "--short", "HEAD"), "clean": not dirty, "uncommitted": dirty}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--kinds", default="embeddings,tabular")
    ap.add_argument("--quick", action="store_true", help="results/b6-quick.json")
    ap.add_argument(
        "--rounds", type=int, default=3, help="timed reports per size and system (worst judged)"
    )
    ap.add_argument("--peers", default="evidently,nannyml", help="which peers run")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "pool":
            out = embed_pool(rest[0])
        elif kind == "prepare":
            out = prepare(*rest)
        elif kind == "prepare-embeddings":
            out = prepare_embeddings(*rest)
        else:
            out = report(rest[0], int(rest[1]))
        print(json.dumps(out))
        return
    evidently = os.environ.get("EVIDENTLY_PYTHON", str(ROOT / ".venv-evidently" / "bin" / "python"))
    nannyml = os.environ.get("NANNYML_PYTHON", str(ROOT / ".venv-nannyml" / "bin" / "python"))
    peers = {
        name: python
        for name, python in (("evidently", evidently), ("nannyml", nannyml))
        if name in args.peers.split(",")
    }
    me = str(Path(__file__).resolve())
    sizes = [int(x) for x in args.sizes.split(",")]
    result = {
        "benchmark": "b6_monitor",
        "command": "python benchmarks/b6_monitor.py " + " ".join(sys.argv[1:]),
        "rounds": args.rounds,
        "git": git_state(),
        "machine": {"platform": platform.platform(), "cores": os.cpu_count()},
        "planted": list(PLANTED),
        "sizes": [],
        "embeddings": [],
    }
    began = time.time()
    with tempfile.TemporaryDirectory() as keep:
        if "embeddings" in args.kinds:
            pool = f"{keep}/pool.npz"
            result["embedding_pool"], _ = peak_of([me, "--child", "pool", pool])
            for n in sizes:
                shifts = [SHIFT_SHARE, 0.0] if n == min(sizes) else [SHIFT_SHARE]
                for shift in shifts:
                    row = embeddings_round(me, peers, pool, n, shift, args.rounds)
                    result["embeddings"].append(row)
                    mm = row["modelmint"]
                    print(
                        f"embeddings n={n} shift={shift}: ModelMint {mm['seconds']} s "
                        f"({mm['peak_rss_mib']} MiB, drift {mm['embedding']['drifted']})"
                        + "".join(
                            f"; {name} {row[name]['seconds']} s ({row[name].get('peak_rss_mib')} MiB, "
                            f"drift {row[name].get('drifted')}, x{row[f'speedup_{name}']})"
                            for name in peers
                        ),
                        flush=True,
                    )
        if "tabular" in args.kinds:
            for n in sizes:
                row = tabular_round(me, peers, n, args.rounds)
                result["sizes"].append(row)
                mm = row["modelmint"]
                print(
                    f"tabular n={n}: ModelMint {mm['seconds']} s ({mm['peak_rss_mib']} MiB), last "
                    f"10k {row['modelmint_last_10000']['seconds']} s"
                    + "".join(
                        f"; {name} {row[name]['seconds']} s ({row[name].get('peak_rss_mib')} MiB, "
                        f"x{row[f'speedup_{name}']}), same verdict on "
                        f"{row[f'agreement_{name}']['same_verdict']}/"
                        f"{row[f'agreement_{name}']['columns']} columns"
                        for name in peers
                    ),
                    flush=True,
                )
    result["seconds"] = round(time.time() - began, 1)
    path = OUT / ("b6-quick.json" if args.quick else "b6.json")
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(result)
    path.write_text(json.dumps(runs, indent=2) + "\n")


def timed(args: list[str], python: str, rounds: int, timeout: float | None = None) -> dict:
    """`rounds` runs of one system's report: the first run's answer (verdicts), each run's
    seconds and peak RSS, and whether every run reached the same verdicts. A run past
    `timeout` stops the rounds and is recorded as stopped."""
    runs: list[dict] = []
    first: dict | None = None
    same = True
    for _ in range(rounds):
        try:
            out, rss = peak_of(args, python, timeout=timeout)
        except subprocess.TimeoutExpired:
            runs.append({"seconds": None, "stopped_after_s": timeout})
            break
        if first is None:
            first = out
        else:
            same = same and verdicts(out) == verdicts(first)
        runs.append({"seconds": out["seconds"], "peak_rss_mib": rss})
    done = [r["seconds"] for r in runs if r["seconds"] is not None]
    return {
        **(first or {"seconds": None}),
        "seconds": max(done) if len(done) == len(runs) else None,  # the worst round
        "seconds_median": round(float(np.median(done)), 3) if done else None,
        "rounds": runs,
        "same_verdicts_every_round": same,
        "peak_rss_mib": max((r["peak_rss_mib"] for r in runs if "peak_rss_mib" in r), default=None),
    }


def verdicts(out: dict) -> dict:
    """What a report decided: drifted or not, per column and for the embedding."""
    found = {c: v["drifted"] for c, v in (out.get("columns") or {}).items()}
    emb = out.get("embedding")
    drifted = out.get("drifted", emb["drifted"] if emb else None)
    if drifted is not None:
        found["(embedding)"] = drifted
    return found


def worst_speedup(peer: dict, mm: dict) -> float | None:
    """The peer's fastest round over ModelMint's slowest: the ratio a target is judged on."""
    fastest = [r["seconds"] for r in peer["rounds"] if r["seconds"] is not None]
    if not fastest or mm["seconds"] is None or len(fastest) < len(peer["rounds"]):
        return None
    return round(min(fastest) / mm["seconds"], 2)


PEER_SCRIPTS = {
    "evidently": "benchmarks/peers/evidently_drift.py",
    "nannyml": "benchmarks/peers/nannyml_drift.py",
}


def embeddings_round(
    me: str, peers: dict[str, str], pool: str, n: int, shift: float, rounds: int
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ref_path, cur_path = write_embeddings(pool, n, tmp, shift)
        home = f"{tmp}/home"
        os.makedirs(home)
        prepared, prep_rss = peak_of(
            [me, "--child", "prepare-embeddings", ref_path, cur_path, home]
        )
        mm = timed([me, "--child", "report", home, str(n)], sys.executable, rounds)
        found = {}
        for name, python in peers.items():
            if name == "nannyml" and n > NANNYML_EMBEDDINGS_MAX:
                found[name] = {"seconds": None, "rounds": [], "skipped": NANNYML_SKIPPED}
                continue
            found[name] = timed(
                [PEER_SCRIPTS[name], "--embeddings", ref_path + ".parquet", cur_path + ".parquet"],
                python,
                1 if name == "nannyml" else rounds,
                timeout=EMBEDDING_CAP_S,
            )
    row = {
        "n": n,
        "shift_share": shift,
        "modelmint": {
            **{
                k: mm[k] for k in ("seconds", "seconds_median", "read_seconds", "rows", "embedding")
            },
            **{k: mm[k] for k in ("rounds", "same_verdicts_every_round", "peak_rss_mib")},
            **prepared,
            "prepare_peak_rss_mib": prep_rss,
        },
    }
    for name, peer in found.items():
        row[name] = peer
        row[f"speedup_{name}"] = worst_speedup(peer, mm)
        row[f"same_verdict_{name}"] = (
            None if peer.get("drifted") is None else peer["drifted"] == mm["embedding"]["drifted"]
        )
    return row


def tabular_round(me: str, peers: dict[str, str], n: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ref_path, cur_path = f"{tmp}/ref.parquet", f"{tmp}/cur.parquet"
        make(n, 1, False).to_parquet(ref_path)
        make(n, 2, True).to_parquet(cur_path)
        home = f"{tmp}/home"
        os.makedirs(home)
        prepared, prep_rss = peak_of([me, "--child", "prepare", ref_path, cur_path, home])
        mm = timed([me, "--child", "report", home, str(n)], sys.executable, rounds)
        tail = timed([me, "--child", "report", home, "10000"], sys.executable, rounds)
        found = {
            name: timed([PEER_SCRIPTS[name], ref_path, cur_path], python, rounds)
            for name, python in peers.items()
        }
    row = {
        "n": n,
        "modelmint": {
            **{k: v for k, v in mm.items() if k != "embedding"},
            **prepared,
            "prepare_peak_rss_mib": prep_rss,
        },
        "modelmint_last_10000": {
            k: tail[k]
            for k in ("seconds", "seconds_median", "read_seconds", "rows", "peak_rss_mib")
        },
    }
    for name, peer in found.items():
        agree = {
            c: {"modelmint": mm["columns"][c]["drifted"], name: peer["columns"][c]["drifted"]}
            for c in mm["columns"]
            if c in peer.get("columns", {})
        }
        row[name] = peer
        row[f"speedup_{name}"] = worst_speedup(peer, mm)
        row[f"agreement_{name}"] = {
            "columns": len(agree),
            "same_verdict": sum(v["modelmint"] == v[name] for v in agree.values()),
            "planted_found_by_modelmint": [c for c in PLANTED if mm["columns"][c]["drifted"]],
            f"planted_found_by_{name}": [
                c for c in PLANTED if peer.get("columns", {}).get(c, {}).get("drifted")
            ],
            "differ": {c: v for c, v in agree.items() if v["modelmint"] != v[name]},
        }
    return row


if __name__ == "__main__":
    main()
