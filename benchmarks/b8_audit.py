"""B8 audit: the time and peak memory of `modelmint audit verify` on an audit log of 10k, 100k
and 1M entries, on SQLite and PostgreSQL. Target (BENCHMARKS.md B8): 1M entries in <= 10 s.

    python benchmarks/b8_audit.py                                  # 10k, 100k, 1M; both databases
    python benchmarks/b8_audit.py --sizes 10000 --dbs sqlite --rounds 1   # smoke

The log, per size n: n entries as the server writes them (actors, actions and targets of the
real kinds, before/after JSON of a plan or a key of ~300 bytes), chained under a key derived
from a fixed server key, inserted by the database's bulk path (untimed), then ANALYZE.

Timed, each round in a fresh process: the CLI's whole `modelmint audit verify` (process start,
settings, opening the store, reading every entry in order, recomputing every MAC), as a user
runs it; the wall time of the command and its peak RSS. Each round also checks the verdict:
the untouched log verifies, and after one entry in the middle is edited (triggers dropped
first, as an attacker would), verify exits 10 naming that entry. Verdict on the slowest round.

Results: benchmarks/results/b8-audit.json (appended); a markdown table on stdout."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.b5_insights import fresh_db, git_state  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "b8-audit.json"
SECRET = "b8-benchmark-server-key-0123456789abcdef"
TARGET_S = 10.0
ACTIONS = (
    ("plan.update", "plan:pro"),
    ("tenant.create", "tenant:t{i}"),
    ("key.create", "tenant:t{i}/key:{k}"),
    ("key.revoke", "tenant:t{i}/key:{k}"),
    ("model.promote", "model:reviews"),
    ("invoice.issue", "tenant:t{i}/invoice:INV-2026-11-{k}"),
)


def log(msg: str) -> None:
    print(f"[b8-audit {datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def build(url: str, n: int) -> None:
    from sqlalchemy import insert

    from modelmint import audit
    from modelmint.store import open_store
    from modelmint.store import tables as t

    key = audit.derive_key(SECRET)
    store = open_store(url, audit_key=key)
    rng = random.Random(n)
    kid = audit.key_id(key)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev = audit.GENESIS
    chunk: list[dict] = []
    for seq in range(1, n + 1):
        action, target = ACTIONS[seq % len(ACTIONS)]
        i, k = rng.randrange(500), f"{rng.getrandbits(48):012x}"
        after = {
            "name": f"t{i}",
            "price_per_1k": f"{rng.randrange(1, 900) / 100:.2f}",
            "quota": rng.randrange(10**6),
            "scenarios": ["reviews", "houses"],
            "created_at": (start + timedelta(seconds=seq)).isoformat(),
            "key_hash": "x",
            "note": "b8 " * 20,
        }
        e = {
            "seq": seq,
            "at": audit.timestamp(start + timedelta(seconds=seq)),
            "actor": ("cli:alice", "token:admin", "job:retrain")[seq % 3],
            "action": action,
            "target": target.format(i=i, k=k),
            "before": audit.snapshot({"status": "active"}) if seq % 2 else None,
            "after": audit.snapshot(after),
            "request_id": f"01J{rng.getrandbits(80):020X}"[:26],
            "key_id": kid,
            "prev": prev,
        }
        e["mac"] = prev = audit.mac(key, e, prev)
        chunk.append(e)
        if len(chunk) == 20_000 or seq == n:
            with store.db.engine.begin() as c:
                c.execute(insert(t.audit_log), chunk)
            chunk = []
            if seq % 200_000 == 0:
                log(f"  {seq:,}/{n:,} entries")
    with store.db.engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    store.close()


def env_for(url: str, home: str) -> dict[str, str]:
    return {
        **os.environ,
        "MODELMINT_HOME": home,
        "MODELMINT_DATABASE_URL": url,
        "MODELMINT_SECRET_KEY": SECRET,
    }


# the CLI as a user runs it, reporting its own peak RSS (KB) as the last line of stderr
CHILD = (
    "import sys\n"
    "from modelmint.cli import main\n"
    "rc = main(['audit', 'verify', '--json'])\n"
    # VmHWM, not ru_maxrss: after fork + exec ru_maxrss can report the parent's peak
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
    "print('peak_rss_kb', hwm, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def timed_verify(url: str, home: str) -> dict:
    """`modelmint audit verify --json` in a fresh process: wall time, exit code, peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        env=env_for(url, home),
        cwd=ROOT,
        timeout=600,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 10):
        raise RuntimeError(f"audit verify failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.strip().splitlines()[-1].split()[-1])
    report = json.loads(proc.stdout)
    return {
        "seconds": round(seconds, 3),
        "rss_mb": round(peak_kb / 1024, 1),
        "exit": proc.returncode,
        "ok": report["ok"],
        "entries": report["entries"],
        "first_bad": report["first_bad"],
    }


def tamper(url: str, seq: int) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            c.execute(text("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"))
        else:
            c.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        c.execute(text("UPDATE audit_log SET actor = 'cli:mallory' WHERE seq = :s"), {"s": seq})
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dbs", default="sqlite,postgresql")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    run = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/b8_audit.py " + " ".join(sys.argv[1:]),
        "git": git_state(),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="b8-") as tmp_s:
        tmp = Path(tmp_s)
        for kind in args.dbs.split(","):
            for n in sizes:
                url, drop = fresh_db(kind, tmp, n, prefix="b8")
                home = str(tmp / f"home-{kind}-{n}")
                try:
                    log(f"{kind} {n:,}: building")
                    t0 = time.perf_counter()
                    build(url, n)
                    log(f"  built in {time.perf_counter() - t0:.1f} s")
                    rounds = []
                    for r in range(args.rounds):
                        res = timed_verify(url, home)
                        assert res["ok"] and res["entries"] == n, res
                        rounds.append(res)
                        log(
                            f"{kind} {n:,} verify round {r + 1}: {res['seconds']} s, {res['rss_mb']} MB"
                        )
                    middle = n // 2
                    tamper(url, middle)
                    bad = timed_verify(url, home)
                    caught = (
                        bad["exit"] == 10
                        and bad["first_bad"]["seq"] == middle
                        and bad["first_bad"]["kind"] == "edited"
                    )
                    log(
                        f"{kind} {n:,} after editing entry {middle:,}: caught={caught} ({bad['seconds']} s)"
                    )
                    run["rows"].append(
                        {
                            "db": kind,
                            "entries": n,
                            "seconds": [x["seconds"] for x in rounds],
                            "rss_mb": [x["rss_mb"] for x in rounds],
                            "tampered_caught": caught,
                            "tampered_seconds": bad["seconds"],
                        }
                    )
                finally:
                    drop()
    prior = json.loads(OUT.read_text()) if OUT.exists() else []
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps([*prior, run], indent=1) + "\n")
    print(
        "| database | entries | verify s (rounds) | slowest | peak RSS MB | edited entry caught | target |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in run["rows"]:
        worst = max(r["seconds"])
        verdict = "met" if worst <= TARGET_S else "missed"
        target = f"<= {TARGET_S:g} s: {verdict}" if r["entries"] >= 1_000_000 else ""
        print(
            f"| {r['db']} | {r['entries']:,} | {', '.join(map(str, r['seconds']))} | {worst} | "
            f"{max(r['rss_mb'])} | {'yes' if r['tampered_caught'] else 'NO'} | {target} |"
        )
    print(f"\n{run['command']} at {run['git']['commit']} (clean tree: {run['git']['clean']})")


if __name__ == "__main__":
    main()
