"""Experiment statistics on simulated traffic with known truth (no model, no database)."""

from __future__ import annotations

import numpy as np

from modelmint import experiments
from modelmint.experiments import Arm, bandit, stats


def test_rates_difference_intervals_and_bayes():
    a, b = Arm(calls=4000, successes=400), Arm(calls=4000, successes=520)
    out = experiments.compare_rates(a, b)
    assert out["production"]["rate"] == 0.1 and out["challenger"]["rate"] == 0.13
    assert out["difference"] == 0.03 and out["p_value"] < 0.001
    low, high = out["interval"]
    vlow, vhigh = out["always_valid_interval"]
    assert vlow < low < 0.03 < high < vhigh  # the always-valid interval is wider
    assert out["probability_challenger_better"] > 0.99 and out["expected_loss_challenger"] < 1e-4
    assert experiments.verdict(out, "converted rate").better


def test_no_difference_is_no_verdict():
    out = experiments.compare_rates(Arm(500, 50), Arm(500, 52))
    v = experiments.verdict(out, "converted rate")
    assert not v.worse and not v.better and "no evidence" in v.reason
    assert experiments.verdict({"difference": None}, "x").reason.startswith("no x figures")


def test_values_per_call():
    rng = np.random.default_rng(0)
    va = rng.exponential(10, 3000) * (rng.random(3000) < 0.2)
    vb = rng.exponential(10, 3000) * (rng.random(3000) < 0.3)
    a = Arm(3000, int((va > 0).sum()), float(va.sum()), float((va**2).sum()))
    b = Arm(3000, int((vb > 0).sum()), float(vb.sum()), float((vb**2).sum()))
    out = experiments.compare_values(a, b)
    assert out["difference"] > 0 and out["p_value"] < 0.01
    assert out["always_valid_interval"][0] < out["interval"][0]


def test_daily_peeking_at_aa_tests_keeps_false_positives_low():
    """200 A/A experiments, each looked at every day for 30 days (400 calls a day per arm, a
    10% rate): stopping at the first day the always-valid interval excludes 0 is wrong in at
    most 5% of them; the fixed-horizon p-value peeked at daily is wrong far more often."""
    rng = np.random.default_rng(1)
    seq_fp = fixed_fp = 0
    for _ in range(200):
        ka = kb = na = nb = 0
        seq_hit = fixed_hit = False
        for _day in range(30):
            na += 400
            nb += 400
            ka += int(rng.binomial(400, 0.1))
            kb += int(rng.binomial(400, 0.1))
            out = stats.compare_rates(Arm(na, ka), Arm(nb, kb))
            low, high = out["always_valid_interval"]
            seq_hit |= low > 0 or high < 0
            fixed_hit |= out["p_value"] < 0.05
        seq_fp += seq_hit
        fixed_fp += fixed_hit
    assert seq_fp / 200 <= 0.05
    assert fixed_fp > seq_fp  # why the sequential interval exists


def test_sample_ratio_mismatch():
    assert not stats.sample_ratio(9000, 1000, 0.1)["mismatch"]
    broken = stats.sample_ratio(9300, 700, 0.1)
    assert broken["mismatch"] and broken["p_value"] < 0.001


def test_assignment_is_sticky_and_close_to_the_share():
    share = 0.3
    picks = [bandit.challenger_answers("exp1", f"user-{i}", share) for i in range(20000)]
    assert abs(np.mean(picks) - share) < 0.01
    assert picks[:50] == [bandit.challenger_answers("exp1", f"user-{i}", share) for i in range(50)]
    # a larger share only moves subjects towards the challenger, never back
    assert all(bandit.challenger_answers("exp1", f"user-{i}", 0.5) for i in range(2000) if picks[i])


def test_thompson_share_burn_in_floor_and_direction():
    assert bandit.thompson_share(Arm(50, 5), Arm(50, 20)) == 0.5  # burn-in
    assert bandit.thompson_share(Arm(2000, 200), Arm(2000, 300)) == 1 - bandit.FLOOR
    assert bandit.thompson_share(Arm(2000, 300), Arm(2000, 200)) == bandit.FLOOR
    even = bandit.thompson_share(Arm(1000, 100), Arm(1000, 100))
    assert 0.3 < even < 0.7
