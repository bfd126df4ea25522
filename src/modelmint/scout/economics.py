"""A pilot priced: monthly revenue, serving cost, error cost, value, margin, payback, and what
more labels are forecast to buy. Money is integer micro-units of the spec's currency at every
step; only the measured quantities (quality, CPU seconds) are floats, and each product is
rounded to a micro-unit once.

Per month, for ``calls`` = monthly_calls and quality ``q``:

- revenue = price_per_1k x calls / 1000, or monthly_fee + overage_per_1k x max(0, calls -
  included_calls) / 1000;
- serving cost = measured CPU core-seconds per 1,000 calls x calls / 1000 x cpu_core_hour / 3600;
- error cost = calls x (1 - q) x cost_per_error;
- value (to the buyer) = calls x q x value_per_correct;
- margin = revenue - serving cost - fixed_monthly - error cost.

The margin is computed at the pessimistic (low), expected and optimistic (high) end of the
quality interval; the ranking uses the pessimistic one. One-off cost = labelling (rows in the
file x labelling_cost_per_row) + training (measured CPU core-seconds x cpu_core_hour / 3600);
payback = one-off / pessimistic monthly margin (never when the margin is not positive)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from modelmint.scout.results import CurvePoint, Pilot
from modelmint.scout.spec import Compute, Scenario
from modelmint.types import Money


def micros(amount: Decimal | None) -> int:
    return 0 if amount is None else Money.parse(amount).micros


def money(m: int, currency: str, places: int = 2) -> str:
    """12,345.67 CNY (negative amounts keep their sign); `places` decimals."""
    sign = "-" if m < 0 else ""
    whole = Decimal(abs(m)) / Decimal(1_000_000)
    return f"{sign}{whole:,.{places}f} {currency}"


@dataclass(frozen=True)
class Forecast:
    """Error = coefficient x rows^-exponent, fitted by least squares on log error against log
    rows over the learning curve's points (a power law; indicative, from at most three
    points)."""

    coefficient: float
    exponent: float
    rows_now: int
    quality_now: float
    rows_2x: int
    quality_2x: float
    rows_4x: int
    quality_4x: float
    extra_labels_2x: int
    """Labelling cost of doubling the rows (micro-units)."""
    margin_gain_2x: int
    """Monthly margin the forecast quality gain at 2x rows is worth (micro-units)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_power_law(curve: list[CurvePoint]) -> tuple[float, float] | None:
    """(coefficient, exponent) of error = a * rows^-b over the curve, or None when fewer than
    two points have a positive error and distinct sizes. The exponent is kept >= 0: more labels
    are never forecast to hurt."""
    pts = [(p.rows, 1 - p.quality) for p in curve if p.rows > 0 and 1 - p.quality > 0]
    if len({r for r, _ in pts}) < 2:
        return None
    xs = [math.log(r) for r, _ in pts]
    ys = [math.log(e) for _, e in pts]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    b = max(0.0, -slope)
    a = math.exp(my + b * mx) if b > 0 else math.exp(my)
    return a, b


@dataclass(frozen=True)
class Economics:
    """One candidate's month, in micro-units of ``currency``."""

    currency: str
    monthly_calls: int
    revenue: int
    serving_cost: int
    serving_cost_per_1k: int
    fixed_cost: int
    error_cost: int
    """At the pessimistic quality."""
    error_cost_expected: int
    value: int
    """What the right answers are worth to the buyer, at the expected quality."""
    margin: int
    """Pessimistic: at the low end of the quality interval. The ranking uses this."""
    margin_expected: int
    margin_optimistic: int
    labelling_cost: int
    training_cost: int
    payback_months: float | None
    forecast: Forecast | None

    @property
    def one_off(self) -> int:
        return self.labelling_cost + self.training_cost

    @property
    def uncertainty_cost(self) -> int:
        """Margin lost to the interval: expected minus pessimistic."""
        return self.margin_expected - self.margin

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["one_off"] = self.one_off
        out["forecast"] = self.forecast.to_dict() if self.forecast else None
        return out


def revenue_of(s: Scenario) -> int:
    calls = s.monthly_calls
    if s.price_per_1k is not None:
        return _div_round(micros(s.price_per_1k) * calls, 1000)
    over = max(0, calls - (s.included_calls or 0))
    return micros(s.monthly_fee) + _div_round(micros(s.overage_per_1k) * over, 1000)


def _div_round(n: int, d: int) -> int:
    """n / d rounded half up, integers only (n >= 0)."""
    return (2 * n + d) // (2 * d)


def price_pilot(s: Scenario, compute: Compute, pilot: Pilot, currency: str) -> Economics:
    calls = s.monthly_calls
    core_hour = micros(compute.cpu_core_hour)
    revenue = revenue_of(s)
    per_1k = round(pilot.serving_cpu_s_per_1k * core_hour / 3600)
    serving = round(pilot.serving_cpu_s_per_1k * calls / 1000 * core_hour / 3600)
    fixed = micros(compute.fixed_monthly)
    per_error = micros(s.cost_per_error)

    def error_cost(q: float) -> int:
        return round(calls * (1 - q) * per_error)

    def margin(q: float) -> int:
        return revenue - serving - fixed - error_cost(q)

    labelling = pilot.rows_in_file * micros(s.labelling_cost_per_row)
    training = round(pilot.train_cpu_s * core_hour / 3600)
    pess = margin(pilot.low)
    payback = (labelling + training) / pess if pess > 0 else None
    return Economics(
        currency=currency,
        monthly_calls=calls,
        revenue=revenue,
        serving_cost=serving,
        serving_cost_per_1k=per_1k,
        fixed_cost=fixed,
        error_cost=error_cost(pilot.low),
        error_cost_expected=error_cost(pilot.quality),
        value=round(calls * pilot.quality * micros(s.value_per_correct)),
        margin=pess,
        margin_expected=margin(pilot.quality),
        margin_optimistic=margin(pilot.high),
        labelling_cost=labelling,
        training_cost=training,
        payback_months=None if payback is None else round(payback, 3),
        forecast=forecast(s, pilot),
    )


def forecast(s: Scenario, pilot: Pilot) -> Forecast | None:
    """What doubling (and quadrupling) the labelled rows is forecast to buy."""
    fit = fit_power_law(pilot.curve)
    if fit is None or not pilot.curve:
        return None
    a, b = fit

    def quality_at(rows: int) -> float:
        return max(0.0, min(1.0, 1 - a * rows**-b))

    q_now = quality_at(pilot.rows_in_file)
    q2, q4 = quality_at(2 * pilot.rows_in_file), quality_at(4 * pilot.rows_in_file)
    gain = round(s.monthly_calls * max(0.0, q2 - q_now) * micros(s.cost_per_error))
    return Forecast(
        coefficient=round(a, 6),
        exponent=round(b, 4),
        rows_now=pilot.rows_in_file,
        quality_now=round(q_now, 4),
        rows_2x=2 * pilot.rows_in_file,
        quality_2x=round(q2, 4),
        rows_4x=4 * pilot.rows_in_file,
        quality_4x=round(q4, 4),
        extra_labels_2x=pilot.rows_in_file * micros(s.labelling_cost_per_row),
        margin_gain_2x=gain,
    )


__all__ = ["Economics", "Forecast", "fit_power_law", "micros", "money", "price_pilot", "revenue_of"]
