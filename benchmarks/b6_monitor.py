"""B6 monitor: a drift report over 10k, 100k and 1M logged predictions of a tabular scenario
(20 mixed columns, a shift planted in 4 of them), time and peak memory, side by side with
Evidently's DataDriftPreset on the same reference and current data, and whether both flag the
same columns.

    python benchmarks/b6_monitor.py                       # 10k, 100k, 1M
    python benchmarks/b6_monitor.py --sizes 10000 --quick # smoke
    EVIDENTLY_PYTHON=/path/to/venv/bin/python python benchmarks/b6_monitor.py

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

Results: benchmarks/results/b6.json (appended); a summary on stdout."""

from __future__ import annotations

import argparse
import json
import os
import platform
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

    from modelmint import billing, monitor
    from modelmint.store import new_id, open_store
    from modelmint.store import tables as t

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
    store = open_store(f"sqlite:///{home}/b6.db")
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
    fill_s = time.perf_counter() - began
    store.close()
    return {"profile_seconds": round(profile_s, 2), "fill_seconds": round(fill_s, 2)}


def report(home: str, last: int) -> dict:
    from modelmint import monitor
    from modelmint.monitor.report import Thresholds
    from modelmint.monitor.service import read_window
    from modelmint.store import open_store

    ref = monitor.Reference.load(Path(home))
    store = open_store(f"sqlite:///{home}/b6.db")
    began = time.perf_counter()
    spec = monitor.parse_window(str(last))
    window, labels = read_window(store, SCENARIO, spec, datetime.now(UTC))
    read_s = time.perf_counter() - began
    out = monitor.build_report(
        ref, window, labels, scenario=SCENARIO, version=1, thresholds=Thresholds()
    )
    seconds = time.perf_counter() - began
    cols = out["inputs"]["columns"]
    return {
        "seconds": round(seconds, 3),
        "read_seconds": round(read_s, 3),
        "rows": len(window),
        "share": out["inputs"]["drifted_share"],
        "columns": {
            k: {"method": c["method"], "value": c["statistic"], "drifted": c["drifted"]}
            for k, c in cols.items()
        },
    }


def peak_of(args: list[str], python: str = sys.executable) -> tuple[dict, float]:
    """A child's answer and its own peak RSS in MiB (a wrapper process runs it and reads the
    ru_maxrss of its one child, so each measurement is of that child alone)."""
    wrapper = (
        "import json,resource,subprocess,sys;"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "sys.stderr.write(p.stderr);"
        "print(json.dumps({'out':p.stdout,'rc':p.returncode,"
        "'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, python, *args], capture_output=True, text=True, cwd=ROOT
    )
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
    ap.add_argument("--quick", action="store_true", help="results/b6-quick.json")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        out = prepare(*rest) if kind == "prepare" else report(rest[0], int(rest[1]))
        print(json.dumps(out))
        return
    evidently = os.environ.get("EVIDENTLY_PYTHON", str(ROOT / ".venv-evidently" / "bin" / "python"))
    me = str(Path(__file__).resolve())
    result = {
        "benchmark": "b6_monitor",
        "command": "python benchmarks/b6_monitor.py " + " ".join(sys.argv[1:]),
        "git": git_state(),
        "machine": {"platform": platform.platform(), "cores": os.cpu_count()},
        "planted": list(PLANTED),
        "sizes": [],
    }
    began = time.time()
    for n in [int(x) for x in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            ref_path, cur_path = f"{tmp}/ref.parquet", f"{tmp}/cur.parquet"
            make(n, 1, False).to_parquet(ref_path)
            make(n, 2, True).to_parquet(cur_path)
            home = f"{tmp}/home"
            os.makedirs(home)
            prepared, prep_rss = peak_of([me, "--child", "prepare", ref_path, cur_path, home])
            mm, mm_rss = peak_of([me, "--child", "report", home, str(n)])
            tail, tail_rss = peak_of([me, "--child", "report", home, "10000"])
            ev, ev_rss = peak_of(
                ["benchmarks/peers/evidently_drift.py", ref_path, cur_path], evidently
            )
        agree = {
            c: {"modelmint": mm["columns"][c]["drifted"], "evidently": ev["columns"][c]["drifted"]}
            for c in mm["columns"]
            if c in ev["columns"]
        }
        row = {
            "n": n,
            "modelmint": {
                **mm,
                "peak_rss_mib": mm_rss,
                **prepared,
                "prepare_peak_rss_mib": prep_rss,
            },
            "modelmint_last_10000": {k: tail[k] for k in ("seconds", "read_seconds", "rows")}
            | {"peak_rss_mib": tail_rss},
            "evidently": {**ev, "peak_rss_mib": ev_rss},
            "speedup": round(ev["seconds"] / mm["seconds"], 2) if mm["seconds"] else None,
            "agreement": {
                "columns": len(agree),
                "same_verdict": sum(v["modelmint"] == v["evidently"] for v in agree.values()),
                "planted_found_by_modelmint": [c for c in PLANTED if mm["columns"][c]["drifted"]],
                "planted_found_by_evidently": [c for c in PLANTED if ev["columns"][c]["drifted"]],
                "differ": {c: v for c, v in agree.items() if v["modelmint"] != v["evidently"]},
            },
        }
        result["sizes"].append(row)
        print(
            f"n={n}: ModelMint {mm['seconds']} s ({mm_rss} MiB), last 10k {tail['seconds']} s; "
            f"Evidently {ev['seconds']} s ({ev_rss} MiB); same verdict on "
            f"{row['agreement']['same_verdict']}/{row['agreement']['columns']} columns",
            flush=True,
        )
    result["seconds"] = round(time.time() - began, 1)
    path = OUT / ("b6-quick.json" if args.quick else "b6.json")
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(result)
    path.write_text(json.dumps(runs, indent=2) + "\n")


if __name__ == "__main__":
    main()
