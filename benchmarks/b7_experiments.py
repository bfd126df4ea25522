"""B7 experiments: are ModelMint's experiment statistics safe to look at every day, how fast do
they find a real lift, and what does the bandit cost? All on simulated traffic with known truth,
through the functions the server uses (`modelmint.experiments.stats` and `.bandit`).

    python benchmarks/b7_experiments.py            # full (a few minutes)
    python benchmarks/b7_experiments.py --quick    # smoke

What is simulated (seeded, numpy):
- **A/A**: 2,000 experiments whose two arms convert at the same 10% rate; 500 calls per arm per
  day for 30 days; inspected once a day. A false positive is an experiment whose always-valid
  95% interval of the difference excludes 0 on any day (stopping there would ship a change that
  does nothing). Beside it, the fixed-horizon z-test peeked at daily, and looked at once at the
  end (its designed use).
- **A/B**: 1,000 experiments, production 10%, challenger 11.5% (+1.5 points); the same daily
  inspection. Detected: the always-valid interval is entirely above 0 by day 30; calls to a
  decision: both arms' calls on the first such day. The fixed-horizon peer: a z-test at the
  sample size planned for 80% power at alpha 0.05 (two-sided), looked at once.
- **Bandit**: 200 runs of 20,000 calls, arms converting at 10% and 12%; the challenger's share
  recomputed from the outcomes every 200 calls (as the worker does every minute) with
  `thompson_share` (burn-in, 5% floor); regret = expected conversions lost against always
  answering with the better arm. Peer: a uniform 50/50 split (regret 0.5 x 20,000 x 0.02 = 200).

Results: benchmarks/results/b7.json (appended, never overwritten); a summary on stdout."""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

from modelmint.experiments import bandit, stats

OUT = Path(__file__).parent / "results"


def git_state() -> dict:
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    dirty = [line for line in run("status", "--porcelain").splitlines() if line]
    return {"commit": run("rev-parse", "--short", "HEAD"), "clean": not dirty, "uncommitted": dirty}


def daily_looks(rng, experiments: int, days: int, per_day: int, rate_a: float, rate_b: float):
    """Cumulative successes per arm after each day: arrays (experiments, days)."""
    ka = rng.binomial(per_day, rate_a, (experiments, days)).cumsum(axis=1)
    kb = rng.binomial(per_day, rate_b, (experiments, days)).cumsum(axis=1)
    n = per_day * np.arange(1, days + 1)
    return ka, kb, n


def judge(ka, kb, n):
    """Per experiment and day: always-valid interval excludes 0 (above, below), and the fixed
    z-test's p < 0.05, with the same formulas as `stats.compare_rates`."""
    pa, pb = ka / n, kb / n
    qa, qb = (ka + 1) / (n + 2), (kb + 1) / (n + 2)  # Agresti-Caffo, as compare_rates
    var = qa * (1 - qa) / (n + 2) + qb * (1 - qb) / (n + 2)
    diff = pb - pa
    half = np.vectorize(lambda v: stats.always_valid_half_width(v, stats.TAU2_RATE))(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * norm.sf(np.abs(diff) / np.sqrt(var))
    p = np.where(var > 0, p, 1.0)
    return diff - half > 0, diff + half < 0, p < stats.ALPHA


def aa(rng, n_exp, days, per_day, rate):
    ka, kb, n = daily_looks(rng, n_exp, days, per_day, rate, rate)
    above, below, fixed = judge(ka, kb, n)
    seq_fp = (above | below).any(axis=1).mean()
    return {
        "experiments": n_exp,
        "days": days,
        "calls_per_arm_per_day": per_day,
        "rate": rate,
        "false_positive_always_valid_daily": round(float(seq_fp), 4),
        "false_positive_fixed_peeked_daily": round(float(fixed.any(axis=1).mean()), 4),
        "false_positive_fixed_once_at_end": round(float(fixed[:, -1].mean()), 4),
    }


def planned_n(p_a: float, p_b: float, alpha=0.05, power=0.8) -> int:
    z_a, z_b = norm.isf(alpha / 2), norm.isf(1 - power)
    var = p_a * (1 - p_a) + p_b * (1 - p_b)
    return math.ceil((z_a + z_b) ** 2 * var / (p_b - p_a) ** 2)


def ab(rng, n_exp, days, per_day, rate_a, rate_b):
    ka, kb, n = daily_looks(rng, n_exp, days, per_day, rate_a, rate_b)
    above, _, _ = judge(ka, kb, n)
    detected = above.any(axis=1)
    first_day = np.where(detected, above.argmax(axis=1), -1)
    calls = [(2 * per_day * (d + 1)) for d in first_day if d >= 0]
    plan = planned_n(rate_a, rate_b)
    fa = rng.binomial(plan, rate_a, n_exp)
    fb = rng.binomial(plan, rate_b, n_exp)
    pa, pb = fa / plan, fb / plan
    z = (pb - pa) / np.sqrt(pa * (1 - pa) / plan + pb * (1 - pb) / plan)
    fixed_detected = (z > norm.isf(stats.ALPHA / 2)).mean()
    return {
        "experiments": n_exp,
        "rates": [rate_a, rate_b],
        "always_valid": {
            "detected_by_day": days,
            "share_detected": round(float(detected.mean()), 4),
            "median_calls_to_decision": int(np.median(calls)) if calls else None,
            "p90_calls_to_decision": int(np.percentile(calls, 90)) if calls else None,
        },
        "fixed_horizon": {
            "planned_calls": 2 * plan,
            "share_detected": round(float(fixed_detected), 4),
        },
    }


def bandit_regret(rng, runs, horizon, every, rate_a, rate_b):
    regrets = []
    shares = []
    best = max(rate_a, rate_b)
    for r in range(runs):
        share = 0.5
        na = nb = ka = kb = 0
        regret = 0.0
        for start in range(0, horizon, every):
            m = min(every, horizon - start)
            to_b = rng.binomial(m, share)
            to_a = m - to_b
            ka += rng.binomial(to_a, rate_a)
            kb += rng.binomial(to_b, rate_b)
            na += to_a
            nb += to_b
            regret += to_a * (best - rate_a) + to_b * (best - rate_b)
            share = bandit.thompson_share(
                stats.Arm(na, ka), stats.Arm(nb, kb), seed=r * 1000 + start
            )
        regrets.append(regret)
        shares.append(share)
    uniform = 0.5 * horizon * abs(rate_b - rate_a)
    return {
        "runs": runs,
        "calls": horizon,
        "update_every_calls": every,
        "rates": [rate_a, rate_b],
        "regret_median": round(float(np.median(regrets)), 1),
        "regret_worst": round(float(np.max(regrets)), 1),
        "regret_uniform_split": round(uniform, 1),
        "final_share_to_better_median": round(float(np.median(shares)), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, results/b7-quick.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    k = 10 if args.quick else 1
    began = time.perf_counter()
    result = {
        "benchmark": "b7_experiments",
        "command": "python benchmarks/b7_experiments.py" + (" --quick" if args.quick else ""),
        "git": git_state(),
        "machine": {"platform": platform.platform(), "cores": __import__("os").cpu_count()},
        "aa": aa(rng, 2000 // k, 30, 500, 0.10),
        "ab": ab(rng, 1000 // k, 30, 500, 0.10, 0.115),
        "bandit": bandit_regret(rng, 200 // k, 20_000, 200, 0.10, 0.12),
    }
    result["seconds"] = round(time.perf_counter() - began, 1)
    a = result["aa"]
    result["verdicts"] = {
        "aa_false_positive_at_most_5_percent": a["false_positive_always_valid_daily"] <= 0.05,
        "bandit_regret_below_uniform_worst_run": result["bandit"]["regret_worst"]
        < result["bandit"]["regret_uniform_split"],
    }
    path = OUT / ("b7-quick.json" if args.quick else "b7.json")
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(result)
    path.write_text(json.dumps(runs, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
