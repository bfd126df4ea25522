"""Experiments between the production version and a challenger: shadow (the challenger scores
the same inputs, never answers, never billed), split (a fixed, sticky share of traffic) and
bandit (Thompson sampling on an outcome); their statistics (fixed-horizon and always-valid
intervals, Bayesian probability and expected loss, sample-ratio mismatch) and the verdict on the
business metric that the promotion gate reads."""

from modelmint.experiments.bandit import challenger_answers, thompson_share, unit
from modelmint.experiments.service import (
    MODES,
    current,
    finish,
    running,
    start,
    summary,
    update_bandits,
)
from modelmint.experiments.stats import Arm, Verdict, compare_rates, compare_values, verdict

__all__ = [
    "MODES",
    "Arm",
    "Verdict",
    "challenger_answers",
    "compare_rates",
    "compare_values",
    "current",
    "finish",
    "running",
    "start",
    "summary",
    "thompson_share",
    "unit",
    "update_bandits",
    "verdict",
]
