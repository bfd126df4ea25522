"""The statistics of an experiment between production (A) and a challenger (B), per outcome:

* per arm: calls, the outcome's rate (Wilson 95% interval) or value per call (normal interval);
* the difference B - A with a fixed-horizon test (two-proportion z-test, or Welch's z on
  values) and an **always-valid** 95% interval (mixture sequential probability ratio test,
  Johari et al. 2017, normal approximation, mixing variance tau^2 = 0.05^2 for rates): looking
  every day does not inflate its error rate, unlike the fixed-horizon p-value;
* Bayesian: Beta(1 + k, 1 + n - k) posteriors, 10,000 draws, P(B better) and the expected loss
  of choosing B (the mean shortfall where B is worse);
* a sample-ratio-mismatch check: a chi-squared test of the calls per arm against the planned
  split (p < 0.001 means the assignment is broken and no other figure can be trusted).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from modelmint.intervals import wilson

ALPHA = 0.05
SRM_P = 0.001
DRAWS = 10_000
TAU2_RATE = 0.05**2  # mixing variance of the mSPRT: tuned to differences of ~5 points of rate


@dataclass(frozen=True)
class Arm:
    calls: int
    successes: int = 0  # calls with the outcome
    value: float = 0.0  # sum of the outcome's values
    value_sq: float = 0.0  # sum of squared values (per call, zeros included)


def always_valid_half_width(variance: float, tau2: float, alpha: float = ALPHA) -> float:
    """Half-width of the mSPRT confidence sequence for a normal estimate with this variance."""
    if variance <= 0:
        return math.inf
    return math.sqrt(
        variance
        * (variance + tau2)
        / tau2
        * (-2 * math.log(alpha) - math.log(variance / (variance + tau2)))
    )


def _z_p(diff: float, variance: float) -> float:
    from scipy.stats import norm

    if variance <= 0:
        return 1.0
    return float(2 * norm.sf(abs(diff) / math.sqrt(variance)))


def compare_rates(a: Arm, b: Arm, seed: int = 0) -> dict[str, Any]:
    """B vs A on the rate of an outcome."""
    out: dict[str, Any] = {
        "production": _rate(a),
        "challenger": _rate(b),
    }
    if a.calls == 0 or b.calls == 0:
        return {**out, "difference": None}
    pa, pb = a.successes / a.calls, b.successes / b.calls
    # the variance from Agresti-Caffo adjusted rates (one success and one failure added to
    # each arm): with a rate of 0 or 1 the plain estimate is 0 and no interval could be formed
    qa, qb = (a.successes + 1) / (a.calls + 2), (b.successes + 1) / (b.calls + 2)
    variance = qa * (1 - qa) / (a.calls + 2) + qb * (1 - qb) / (b.calls + 2)
    diff = pb - pa
    fixed_half = 1.96 * math.sqrt(variance)
    seq_half = always_valid_half_width(variance, TAU2_RATE)
    rng = np.random.default_rng(seed)
    draws_a = rng.beta(1 + a.successes, 1 + a.calls - a.successes, DRAWS)
    draws_b = rng.beta(1 + b.successes, 1 + b.calls - b.successes, DRAWS)
    return {
        **out,
        "difference": round(diff, 6),
        "interval": [round(diff - fixed_half, 6), round(diff + fixed_half, 6)],
        "p_value": round(_z_p(diff, variance), 6),
        "always_valid_interval": [round(diff - seq_half, 6), round(diff + seq_half, 6)],
        "probability_challenger_better": round(float((draws_b > draws_a).mean()), 4),
        "expected_loss_challenger": round(float(np.maximum(draws_a - draws_b, 0).mean()), 6),
    }


def _rate(arm: Arm) -> dict[str, Any]:
    low, high = wilson(arm.successes, arm.calls)
    return {
        "calls": arm.calls,
        "with_outcome": arm.successes,
        "rate": round(arm.successes / arm.calls, 6) if arm.calls else None,
        "interval": [round(low, 6), round(high, 6)],
    }


def _mean_var(arm: Arm) -> tuple[float, float]:
    if arm.calls == 0:
        return 0.0, 0.0
    mean = arm.value / arm.calls
    var = max(arm.value_sq / arm.calls - mean * mean, 0.0)
    return mean, var * arm.calls / max(arm.calls - 1, 1)


def compare_values(a: Arm, b: Arm) -> dict[str, Any]:
    """B vs A on the value per call (zeros for calls without the outcome)."""
    (ma, va), (mb, vb) = _mean_var(a), _mean_var(b)

    def arm(m: float, v: float, n: int) -> dict[str, Any]:
        half = 1.96 * math.sqrt(v / n) if n else math.inf
        return {
            "calls": n,
            "value_per_call": round(m, 6),
            "interval": [round(m - half, 6), round(m + half, 6)],
        }

    out = {"production": arm(ma, va, a.calls), "challenger": arm(mb, vb, b.calls)}
    if a.calls < 2 or b.calls < 2:
        return {**out, "difference": None}
    variance = va / a.calls + vb / b.calls
    diff = mb - ma
    fixed_half = 1.96 * math.sqrt(variance)
    # mixing variance on the scale of the data: 1% of the pooled variance per call
    tau2 = max((va + vb) / 2 * 0.01, 1e-12)
    seq_half = always_valid_half_width(variance, tau2)
    return {
        **out,
        "difference": round(diff, 6),
        "interval": [round(diff - fixed_half, 6), round(diff + fixed_half, 6)],
        "p_value": round(_z_p(diff, variance), 6),
        "always_valid_interval": [round(diff - seq_half, 6), round(diff + seq_half, 6)],
    }


def sample_ratio(calls_a: int, calls_b: int, share_b: float) -> dict[str, Any]:
    """Chi-squared test of the calls per arm against the planned share of the challenger."""
    from scipy.stats import chisquare

    n = calls_a + calls_b
    if n == 0 or not 0 < share_b < 1:
        return {
            "expected_share": share_b,
            "observed_share": None,
            "p_value": None,
            "mismatch": False,
        }
    p = float(chisquare([calls_a, calls_b], [n * (1 - share_b), n * share_b]).pvalue)
    return {
        "expected_share": round(share_b, 6),
        "observed_share": round(calls_b / n, 6),
        "p_value": round(p, 6),
        "mismatch": p < SRM_P,
    }


@dataclass(frozen=True)
class Verdict:
    """Whether the experiment's business metric is worse for the challenger, with evidence."""

    worse: bool
    better: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(comparison: dict[str, Any], what: str) -> Verdict:
    """Worse / better only with evidence: the always-valid interval of B - A entirely below /
    above zero (safe whenever it is looked at)."""
    if comparison.get("difference") is None:
        return Verdict(False, False, f"no {what} figures for both arms yet")
    low, high = comparison["always_valid_interval"]
    diff = comparison["difference"]
    if high < 0:
        return Verdict(
            True,
            False,
            f"{what}: challenger worse by {-diff:.4g} (always-valid 95% interval {low:.4g} to {high:.4g})",
        )
    if low > 0:
        return Verdict(
            False,
            True,
            f"{what}: challenger better by {diff:.4g} (always-valid 95% interval {low:.4g} to {high:.4g})",
        )
    return Verdict(
        False,
        False,
        f"{what}: no evidence of a difference ({diff:+.4g}, always-valid 95% interval {low:.4g} to {high:.4g})",
    )
