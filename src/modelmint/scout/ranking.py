"""The ranking of candidates by expected margin, with the reasons in words.

Order: candidates whose pilot is learnable (the low end of the quality interval beats the trivial
answer) come first, then by the pessimistic monthly margin (at the low end of the interval),
then by payback. A candidate that cannot be learned therefore never wins on its price. Each
candidate's reason compares it with the one ranked just above it: the difference of their
pessimistic margins is split into revenue, expected error cost, uncertainty (margin lost to
the interval: expected minus pessimistic) and serving + fixed cost, and the largest part is
named - or "not learnable", which outranks everything; data-quality flags and pilots cut short by the budget are added."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelmint.scout.economics import Economics, micros, money
from modelmint.scout.results import Pilot
from modelmint.scout.spec import Scenario


@dataclass(frozen=True)
class Ranked:
    rank: int
    scenario: Scenario
    pilot: Pilot
    economics: Economics
    reason: str
    risks: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.scenario.name

    def to_dict(self) -> dict[str, Any]:
        e, cur = self.economics, self.economics.currency
        return {
            "rank": self.rank,
            "name": self.name,
            "task": self.pilot.task,
            "learnable": self.pilot.learnable,
            "reason": self.reason,
            "risks": list(self.risks),
            "pilot": self.pilot.to_dict(),
            "economics": e.to_dict(),
            "shown": {
                "revenue": money(e.revenue, cur),
                "serving_cost": money(e.serving_cost, cur),
                "serving_cost_per_1k": money(e.serving_cost_per_1k, cur, 4),
                "error_cost": money(e.error_cost, cur),
                "value": money(e.value, cur),
                "margin": money(e.margin, cur),
                "margin_expected": money(e.margin_expected, cur),
                "margin_optimistic": money(e.margin_optimistic, cur),
                "one_off": money(e.one_off, cur),
                "payback": payback_text(e.payback_months),
            },
        }


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def payback_text(months: float | None) -> str:
    if months is None:
        return "never (no positive margin)"
    if months < 1 / 30:
        return "under a day"
    if months < 1:
        days = round(months * 30)
        return f"{days} day{'' if days == 1 else 's'}"
    return f"{months:.1f} months"


def price_text(s: Scenario, currency: str) -> str:
    if s.price_per_1k is not None:
        return f"{money(micros(s.price_per_1k), currency)} per 1,000 calls"
    return f"{money(micros(s.monthly_fee), currency)} a month"


def risks_of(s: Scenario, p: Pilot, e: Economics) -> list[str]:
    """The candidate's risks in words: interval width, data-quality flags, the buyer's value."""
    out = []
    if p.half_width > 0.05:
        out.append(f"quality uncertain (± {p.half_width:.2f})")
    out += p.flags
    if s.value_per_correct > 0 and e.value - e.error_cost_expected < e.revenue:
        out.append(
            f"the buyer's value net of errors ({money(e.value - e.error_cost_expected, e.currency)}"
            f") is below the price ({money(e.revenue, e.currency)} a month)"
        )
    out += p.notes
    return out


def _key(item: tuple[Scenario, Pilot, Economics]) -> tuple[Any, ...]:
    s, p, e = item
    payback = e.payback_months if e.payback_months is not None else float("inf")
    return (not p.learnable, -e.margin, payback, s.name)


def rank(items: list[tuple[Scenario, Pilot, Economics]]) -> list[Ranked]:
    ordered = sorted(items, key=_key)
    out: list[Ranked] = []
    for i, (s, p, e) in enumerate(ordered):
        above = out[-1] if out else None
        reason = _reason(i + 1, s, p, e, above)
        out.append(Ranked(i + 1, s, p, e, reason, tuple(risks_of(s, p, e))))
    return out


def _reason(n: int, s: Scenario, p: Pilot, e: Economics, above: Ranked | None) -> str:
    cur = e.currency
    head = f"ranked {ordinal(n)}"
    q = f"quality {p.quality:.2f} [{p.low:.2f}, {p.high:.2f}]"
    if not p.learnable:
        why = (
            f"{head}: not learnable from this data - {q} does not beat always answering "
            f"{p.baseline_answer} ({p.baseline:.2f}), so its price of {price_text(s, cur)} "
            "cannot be earned"
        )
        if above is None:
            why += " (no candidate is learnable)"
        return why + _tail(p)
    if above is None:
        if e.margin <= 0:
            return (
                f"{head}, but it loses money even here: at quality {p.low:.2f} (the pessimistic "
                f"end) the margin is {money(e.margin, cur)} a month - "
                f"{_largest_cost(s, p, e)}" + _tail(p)
            )
        return (
            f"{head}: the highest margin even at the pessimistic quality {p.low:.2f}: "
            f"{money(e.margin, cur)} a month on {money(e.revenue, cur)} of revenue; labelling "
            f"and training pay back in {payback_text(e.payback_months)}" + _tail(p)
        )
    a = above.economics
    versus = f"margin {money(e.margin, cur)} against {above.name}'s {money(a.margin, cur)}"
    # the pessimistic margins' difference, split into what makes it up (the parts sum to it)
    gaps = {
        "revenue": a.revenue - e.revenue,
        "errors": e.error_cost_expected - a.error_cost_expected,
        "uncertainty": e.uncertainty_cost - a.uncertainty_cost,
        "serving": (e.serving_cost + e.fixed_cost) - (a.serving_cost + a.fixed_cost),
    }
    worst = max(gaps, key=lambda k: gaps[k])
    if gaps[worst] <= 0:
        what = "a lower margin at the pessimistic quality"
    elif worst == "uncertainty":
        return (
            f"{head}: quality {p.quality:.2f} ± {p.half_width:.2f} is too uncertain for the "
            f"error cost of {money(micros(s.cost_per_error), cur)} per call - at its low end "
            f"{p.low:.2f} the {versus}" + _tail(p)
        )
    elif worst == "revenue":
        what = (
            f"earns less - {money(e.revenue, cur)} a month ({price_text(s, cur)}, "
            f"{s.monthly_calls:,} calls) against {money(a.revenue, cur)}"
        )
    elif worst == "errors":
        what = (
            f"its errors cost more - {s.monthly_calls:,} calls x {1 - p.quality:.0%} wrong "
            f"(quality {p.quality:.2f}) x {money(micros(s.cost_per_error), cur)} = "
            f"{money(e.error_cost_expected, cur)} a month"
        )
    else:
        what = (
            f"costs more to serve - {money(e.serving_cost_per_1k, cur, 4)} per 1,000 calls "
            f"measured ({p.serving_cpu_s_per_1k:.1f} CPU core-seconds)"
        )
    loss = " and loses money" if e.margin <= 0 else ""
    return f"{head}: {what}{loss}; {versus}" + _tail(p)


def _largest_cost(s: Scenario, p: Pilot, e: Economics) -> str:
    cur = e.currency
    costs = {"errors": e.error_cost, "serving": e.serving_cost, "fixed": e.fixed_cost}
    worst = max(costs, key=lambda k: costs[k])
    if worst == "errors":
        return f"errors cost {money(e.error_cost, cur)} against {money(e.revenue, cur)} of revenue"
    if worst == "serving":
        return f"serving costs {money(e.serving_cost, cur)} against {money(e.revenue, cur)}"
    return f"the fixed cost {money(e.fixed_cost, cur)} exceeds what it earns"


def _tail(p: Pilot) -> str:
    return "".join(f" ({note})" for note in p.notes if "cut short" in note)


__all__ = ["Ranked", "ordinal", "payback_text", "rank", "risks_of"]
