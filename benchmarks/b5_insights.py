"""B5 invoices and insights: run time and peak memory of a monthly invoice run and of the monthly
insight reports against the number of usage rows in the month (10k -> 10M), on SQLite and on
PostgreSQL. Target (BENCHMARKS.md B5): linear or better; issue 14: seconds at 10M.

    python benchmarks/b5_insights.py                              # 10k, 100k, 1M, 10M; both databases
    python benchmarks/b5_insights.py --sizes 10000,100000 --dbs sqlite --rounds 1   # smoke

The ledger, per size n (seeded): 100 tenants on 3 plans (pay-as-you-go with a per-scenario
price, graduated tiers, a subscription with included units), created before the month; n usage
rows (one call each, one unit) spread over the month's days, 3 scenarios x 2 unit types x 2
answering versions; and one prediction-log row per call with its compute time (what serving
writes), and the hourly rollup of both that the metering transaction keeps beside them. Rows go
in by the database's bulk path (executemany / COPY), untimed; then ANALYZE.

Timed, each in a fresh process (its wall time inside the process, and the process's peak RSS):
- ``close``: `invoices close` of the month (every tenant's invoice: the draft per plan segment
  from usage grouped in the database), once (a second close issues nothing);
- ``drafts``: every tenant's draft of the month, what `invoices preview` computes, --rounds times;
- ``revenue``: `insights revenue --period` (issued invoices allocated to scenarios, unit types
  and versions), --rounds times;
- ``margin``: `insights margin --period` (revenue and the measured cost from the prediction log),
  --rounds times;
- ``funnel``: `insights funnel` (first call, active month and paid step of every tenant),
  --rounds times.

"linear or better" is judged on the slowest round at each size: the log-log slope of time
against rows between the two largest sizes is at most 1.1 (time grows no faster than rows).

Results: benchmarks/results/b5-insights.json (appended); a markdown table on stdout."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "b5-insights.json"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# the server key the ledger's audit log is chained under (plans, tenants and invoices are
# audited), the same in the builder and in every report's process
SERVER_KEY = "b5-benchmark-server-key-0123456789abcdef"
PERIOD = "2026-10"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)  # the reports run "in November"
TENANTS = 100
SCENARIOS = ("reviews", "tickets", "houses")
CHUNK = 200_000


def log(msg: str) -> None:
    print(f"[b5-insights {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- building the ledger (untimed) ------------------------------------------------------------
def build(url: str, n: int) -> None:
    import time_machine

    from modelmint import audit, billing
    from modelmint.store import open_store

    store = open_store(url, audit_key=audit.derive_key(SERVER_KEY))
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with time_machine.travel(start - timedelta(days=20), tick=False):
        billing.create_plan(store, "payg", price_per_1k="2.00", prices=["houses=4.00"])
        billing.create_plan(store, "tiered", tiers=["100000=3.00", "inf=1.00"])
        billing.create_plan(store, "sub", fee="99.00", included=50_000, price_per_1k="1.50")
        plans = ("payg", "tiered", "sub")
        for i in range(TENANTS):
            billing.create_tenant(store, f"t{i:03d}", plan=plans[i % 3])
    ids = [t["id"] for t in store.billing.tenants()]
    rng = random.Random(n)
    month_s = 31 * 86400
    engine = store.db.engine
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if store.dialect == "sqlite":  # a scratch database: durability off while it fills
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA cache_size=-1000000")
        done = 0
        rollup: dict[tuple, list] = {}
        while done < n:
            k = min(CHUNK, n - done)
            usage, preds = [], []
            for j in range(done, done + k):
                # in time order, as a live log fills (random times would make every index
                # insertion a random B-tree write: the build, not the reports, would dominate)
                at = start + timedelta(seconds=(j + rng.random()) / n * month_s)
                tid = ids[rng.randrange(TENANTS)]
                sc = SCENARIOS[rng.randrange(3)]
                ut = "explain" if rng.random() < 0.1 else "predict"
                v = 1 if rng.random() < 0.6 else 2
                units = 1  # one input a call, one prediction-log row
                rid = f"R{j:025d}"
                ts = at.strftime("%Y-%m-%d %H:%M:%S.%f")
                if store.dialect == "postgresql":
                    ts += "+00"
                usage.append((f"U{j:025d}", rid, tid, "k", sc, ut, units, PERIOD, ts, True, v))
                preds.append(
                    (f"P{j:025d}", rid, tid, "k", sc, v, "x", "pos", 0.9, 3.0, ts, 4.0 * units)
                )
                # the hourly rollup the metering transaction writes beside them
                hk = (at.replace(minute=0, second=0, microsecond=0), tid, sc, ut, v)
                r = rollup.setdefault(hk, [0, 0, 0.0])
                r[0] += 1
                r[1] += units
                r[2] += 4.0 * units
            if store.dialect == "postgresql":
                with cur.copy(
                    "COPY usage (id, request_id, tenant_id, key_id, scenario, unit_type, units, "
                    "period, created_at, live, model_version) FROM STDIN"
                ) as cp:
                    for r in usage:
                        cp.write_row(r)
                with cur.copy(
                    "COPY predictions (id, request_id, tenant_id, key_id, scenario, "
                    "model_version, input_text, label, score, latency_ms, created_at, compute_ms) "
                    "FROM STDIN"
                ) as cp:
                    for r in preds:
                        cp.write_row(r)
            else:
                cur.executemany(
                    "INSERT INTO usage (id, request_id, tenant_id, key_id, scenario, unit_type, "
                    "units, period, created_at, live, model_version) VALUES "
                    "(?,?,?,?,?,?,?,?,?,?,?)",
                    usage,
                )
                cur.executemany(
                    "INSERT INTO predictions (id, request_id, tenant_id, key_id, scenario, "
                    "model_version, input_text, label, score, latency_ms, created_at, compute_ms) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    preds,
                )
            raw.commit()
            done += k
            log(f"  {done:,}/{n:,} rows")
        hourly = [
            (
                h.strftime("%Y-%m-%d %H:%M:%S.%f")
                + ("+00" if store.dialect == "postgresql" else ""),
                tid,
                sc,
                ut,
                v,
                True,
                False,
                PERIOD,
                c,
                u,
                c,
                c,
                ms,
            )
            for (h, tid, sc, ut, v), (c, u, ms) in rollup.items()
        ]
        if store.dialect == "postgresql":
            with cur.copy(
                "COPY usage_hourly (hour, tenant_id, scenario, unit_type, model_version, live, "
                "shadow, period, calls, units, predictions, measured, compute_ms) FROM STDIN"
            ) as cp:
                for r in hourly:
                    cp.write_row(r)
        else:
            cur.executemany(
                "INSERT INTO usage_hourly (hour, tenant_id, scenario, unit_type, model_version, "
                "live, shadow, period, calls, units, predictions, measured, compute_ms) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                hourly,
            )
        raw.commit()
        log(f"  {len(hourly):,} rollup rows")
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    store.close()


# --- one timed report, in a fresh process ----------------------------------------------------
def child(report: str, url: str, home: str) -> None:
    import time_machine

    from modelmint import audit, insights
    from modelmint.billing import invoices
    from modelmint.settings import load_settings
    from modelmint.store import open_store

    settings = load_settings(
        home=home,
        database_url=url,
        cost_cpu_core_hour="0.04",
        cost_cores_per_batch=2,
        cost_fixed_monthly="100",
    )
    store = open_store(url, audit_key=audit.derive_key(SERVER_KEY))
    with time_machine.travel(NOW, tick=True):
        t0 = time.perf_counter()
        if report == "close":
            # issued an hour before the clock every child starts from, so later reports see it
            out = invoices.close_period(store, PERIOD, now=NOW - timedelta(hours=1))
            summary = {"invoices": len(out), "total_micros": sum(i["total_micros"] for i, _ in out)}
        elif report == "drafts":
            drafts = [
                invoices.draft_invoice(store, t["name"], period=PERIOD)
                for t in store.billing.tenants()
            ]
            summary = {
                "drafts": len(drafts),
                "total_micros": sum(d["total_micros"] for d in drafts),
            }
        elif report == "funnel":
            rep = insights.funnel(store, settings)
            summary = {"paid": rep["total"]["paid"], "active": rep["total"]["active"]}
        else:
            rep = insights.REPORTS[report](store, settings, by="version", period=PERIOD)
            summary = {
                "rows": len(rep["rows"]),
                "revenue_micros": sum(r.get("revenue_micros") or 0 for r in rep["rows"]),
            }
            if report == "revenue":
                docs = rep["invoices"]
                summary["exact"] = all(d["allocated_micros"] == d["total_micros"] for d in docs)
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": round(seconds, 3), "rss_mb": round(peak_rss_mb(), 1), **summary}))


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not getrusage's ru_maxrss: on Linux a child started by
    fork + exec reports its parent's high-water mark from before the exec when that is higher
    (the parent here holds the 10M-row build), which made every child look as big as it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(report: str, url: str, home: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", report, url, home],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{report} failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fresh_db(kind: str, tmp: Path, n: int, prefix: str = "b5") -> tuple[str, callable]:
    """An empty database for a run (a SQLite file, or a PostgreSQL schema) and its remover."""
    if kind == "sqlite":
        path = tmp / f"{prefix}-{n}.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    import psycopg

    schema = f"{prefix}_{n}_{os.getpid()}"
    dsn = PG.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        c.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    return f"{PG}?options=-csearch_path%3D{schema}", drop


def git_state() -> dict:
    def run(*a: str) -> str:
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT).stdout.strip()

    dirty = [x for x in run("status", "--porcelain").splitlines() if x]
    return {"commit": run("rev-parse", "--short", "HEAD"), "clean": not dirty, "uncommitted": dirty}


def slope(points: list[tuple[int, float]]) -> float | None:
    """The log-log slope of time against rows between the two largest sizes."""
    if len(points) < 2:
        return None
    (n0, t0), (n1, t1) = sorted(points)[-2:]
    if t0 <= 0 or t1 <= 0:
        return None
    return round(math.log(t1 / t0) / math.log(n1 / n0), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000,10000000")
    ap.add_argument("--dbs", default="sqlite,postgresql")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reports", default="close,drafts,revenue,margin,funnel")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    reports = args.reports.split(",")
    run = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/b5_insights.py", *sys.argv[1:]]),
        "git": git_state(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "rounds": args.rounds,
        "results": [],
    }
    with tempfile.TemporaryDirectory(prefix="b5i-") as tmp:
        for kind in args.dbs.split(","):
            for n in sizes:
                url, drop = fresh_db(kind, Path(tmp), n)
                try:
                    log(f"{kind} {n:,}: building")
                    t0 = time.perf_counter()
                    build(url, n)
                    built = round(time.perf_counter() - t0, 1)
                    home = str(Path(tmp) / "home")
                    for report in reports:
                        rounds = 1 if report == "close" else args.rounds
                        res = [timed(report, url, home) for _ in range(rounds)]
                        worst = max(res, key=lambda r: r["seconds"])
                        log(f"{kind} {n:,} {report}: {[r['seconds'] for r in res]} s")
                        run["results"].append(
                            {
                                "db": kind,
                                "rows": n,
                                "report": report,
                                "build_s": built,
                                "seconds": [r["seconds"] for r in res],
                                "worst_s": worst["seconds"],
                                "peak_rss_mb": max(r["rss_mb"] for r in res),
                                "check": {
                                    k: v for k, v in worst.items() if k not in ("seconds", "rss_mb")
                                },
                            }
                        )
                finally:
                    drop()
    verdicts = []
    for kind in args.dbs.split(","):
        for report in reports:
            pts = [
                (r["rows"], r["worst_s"])
                for r in run["results"]
                if r["db"] == kind and r["report"] == report
            ]
            s = slope(pts)
            biggest = max(pts)[1] if pts else None
            verdicts.append(
                {
                    "db": kind,
                    "report": report,
                    "slope_largest_two": s,
                    "linear_or_better": s is not None and s <= 1.1,
                    "worst_s_at_largest": biggest,
                }
            )
    run["verdicts"] = verdicts
    OUT.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(OUT.read_text()) if OUT.exists() else []
    history.append(run)
    OUT.write_text(json.dumps(history, indent=2) + "\n")
    print("| db | rows | report | rounds (s) | peak RSS MB | check |")
    print("|---|---|---|---|---|---|")
    for r in run["results"]:
        print(
            f"| {r['db']} | {r['rows']:,} | {r['report']} | {', '.join(map(str, r['seconds']))} | "
            f"{r['peak_rss_mb']} | {json.dumps(r['check'])} |"
        )
    print()
    for v in verdicts:
        print(
            f"- {v['db']} {v['report']}: slope {v['slope_largest_two']} "
            f"({'linear or better' if v['linear_or_better'] else 'worse than linear'}), "
            f"{v['worst_s_at_largest']} s at the largest size"
        )


if __name__ == "__main__":
    main()
