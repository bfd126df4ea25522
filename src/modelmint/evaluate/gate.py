"""The promotion gate: a candidate replaces production only when it is better on the same
frozen test split. The decision carries its evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelmint.types import EvalReport


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


def gate(
    candidate: EvalReport,
    production: EvalReport | None,
    y_true: list[str],
    *,
    metric: str = "accuracy",
    min_improvement: float = 0.0,
) -> GateDecision:
    """Promote iff candidate[metric] - production[metric] > min_improvement.

    Both reports must come from the same frozen split (same examples, same order). The paired
    McNemar test is reported as evidence of whether the difference is more than noise."""
    cand = float(getattr(candidate, metric))
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
    prod = float(getattr(production, metric))
    delta = round(cand - prod, 6)
    cand_right = [p == t for p, t in zip(candidate.predictions, y_true, strict=True)]
    prod_right = [p == t for p, t in zip(production.predictions, y_true, strict=True)]
    only_cand = sum(1 for a, b in zip(cand_right, prod_right, strict=True) if a and not b)
    only_prod = sum(1 for a, b in zip(cand_right, prod_right, strict=True) if b and not a)
    p = mcnemar_exact(only_cand, only_prod)
    promote = delta > min_improvement
    evidence = "significant" if p < 0.05 else "not significant"
    if promote:
        reason = (
            f"{metric} {cand:.4f} vs production {prod:.4f} (+{delta:.4f} > {min_improvement}); "
            f"McNemar p={p:.3g} ({evidence} at 0.05)"
        )
    else:
        reason = (
            f"{metric} {cand:.4f} vs production {prod:.4f} ({delta:+.4f}, needs > "
            f"+{min_improvement}); stays a candidate. McNemar p={p:.3g} ({evidence} at 0.05)"
        )
    return GateDecision(
        promote,
        reason,
        metric,
        cand,
        prod,
        delta,
        p,
        {"candidate_only_right": only_cand, "production_only_right": only_prod},
    )
