"""Confidence intervals shared by monitoring and experiments (plain numbers in, numbers out)."""

from __future__ import annotations


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson's 95% score interval for a proportion (scipy's); (0, 1) when n is 0."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))
