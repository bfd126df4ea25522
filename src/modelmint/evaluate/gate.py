"""The promotion gate: a candidate replaces production only when it is better on the same
frozen test split by a paired test at level ``ALPHA`` (exact McNemar on right/wrong, Wilcoxon
signed-rank on per-example losses otherwise), or, when a policy puts the business metric first,
non-inferior within a margin (the one-sided 95% lower bound of the paired difference above
-margin). The decision carries its evidence. Experiments add the business half of the gate
(``pipeline.experimenting``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelmint.types import EvalReport

ALPHA = 0.05  # level of the paired test a candidate must pass


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    metric: str
    candidate: float
    production: float | None
    delta: float | None
    mcnemar_p: float | None
    discordant: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    from scipy.stats import binomtest

    if b + c == 0:
        return 1.0
    return float(binomtest(b, b + c, 0.5).pvalue)


def wilcoxon_p(a: list[float], b: list[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value for paired per-example losses."""
    from scipy.stats import wilcoxon

    d = [x - y for x, y in zip(a, b, strict=True)]
    if not any(d):
        return 1.0
    return float(wilcoxon(a, b, zero_method="wilcox").pvalue)


def gate(
    candidate: EvalReport,
    production: EvalReport | None,
    y_true: list[str] | None = None,
    *,
    metric: str | None = None,
    min_improvement: float = 0.0,
    margin: float | None = None,
) -> GateDecision:
    """Promote iff the candidate beats production on the primary metric by more than
    `min_improvement` (accuracy for classification, MAE for regression - lower is better -,
    micro F1 for multi-label, span F1 for entities).

    Both reports must come from the same frozen split (same examples, same order). A paired
    test is reported as evidence of whether the difference is more than noise: exact McNemar on
    right/wrong for classification, Wilcoxon signed-rank on per-example losses otherwise."""
    metric = metric or candidate.primary
    cand = candidate.value(metric)
    if production is None:
        return GateDecision(
            True,
            "no production version yet: the first model is promoted",
            metric,
            cand,
            None,
            None,
            None,
        )
    if production.n != candidate.n:
        raise ValueError("gate needs both models scored on the same frozen split")
    prod = production.value(metric)
    better = candidate.higher_is_better
    delta = round(cand - prod, 6)
    gain = delta if better else -delta
    discordant: dict[str, int] = {}
    if candidate.losses and production.losses and set(candidate.losses) <= {0.0, 1.0}:
        only_cand = sum(
            1 for a, b in zip(candidate.losses, production.losses, strict=True) if a < b
        )
        only_prod = sum(
            1 for a, b in zip(candidate.losses, production.losses, strict=True) if b < a
        )
        p = mcnemar_exact(only_cand, only_prod)
        test = "McNemar"
        discordant = {"candidate_only_right": only_cand, "production_only_right": only_prod}
    elif candidate.losses and production.losses:
        p = wilcoxon_p(list(candidate.losses), list(production.losses))
        test = "Wilcoxon"
    else:
        p, test = 1.0, "no paired test"
    evidence = "significant" if p < ALPHA else "not significant"
    direction = "" if better else " (lower is better)"
    head = f"{metric}{direction} {cand:.4f} vs production {prod:.4f}"
    if margin is not None:  # non-inferiority: the business metric decides, quality may not drop
        low = paired_lower_bound(candidate.losses, production.losses, better)
        promote = low is not None and low > -margin
        reason = (
            f"{head}: one-sided 95% lower bound of the difference "
            f"{'n/a' if low is None else f'{low:+.4f}'} vs margin -{margin} "
            f"({'non-inferior' if promote else 'not shown non-inferior: stays a candidate'})"
        )
        return GateDecision(promote, reason, metric, cand, prod, delta, p, discordant)
    promote = gain > min_improvement and p < ALPHA
    if promote:
        reason = (
            f"{head} (improves by {gain:.4f} > {min_improvement}); {test} p={p:.3g} "
            f"({evidence} at {ALPHA})"
        )
    else:
        why = (
            f"needs > +{min_improvement}"
            if gain <= min_improvement
            else f"not significant: {test} p={p:.3g} >= {ALPHA}"
        )
        reason = (
            f"{head} (improves by {gain:+.4f}; {why}); stays a candidate. {test} p={p:.3g} "
            f"({evidence} at {ALPHA})"
        )
    return GateDecision(promote, reason, metric, cand, prod, delta, p, discordant)


def paired_lower_bound(cand_losses: Any, prod_losses: Any, higher_is_better: bool) -> float | None:
    """One-sided 95% lower bound of the candidate's gain per example (production loss minus
    candidate loss, paired; for a 0/1 loss this is the accuracy difference)."""
    import math

    if not cand_losses or not prod_losses:
        return None
    d = [b - a for a, b in zip(cand_losses, prod_losses, strict=True)]
    n = len(d)
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / max(n - 1, 1)
    return mean - 1.645 * math.sqrt(var / n)
