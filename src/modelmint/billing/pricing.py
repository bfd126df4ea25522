"""What a plan version charges, and the charge for a period: subscription fee, included units,
per-scenario and per-unit-type prices, graduated or volume tiers, trials and mid-period plan
changes (prorated). Integer micros throughout; every rounding is half up, once per line.

A period is cut into segments, one per plan the tenant was on (and a trial part, never charged).
Per segment: the fee and the included units are prorated by the seconds of the period the
segment covers; included units go first to the dearest usage; what is left is billed at the
most specific price for its scenario and unit type, or else at the plan's default price or its
tiers (tiers count the default-priced units of the segment)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modelmint.billing import ranges
from modelmint.errors import InvalidInput
from modelmint.types import Money

TIER_MODES = ("graduated", "volume")
_SCOPE = re.compile(r"(\*|[a-z0-9][a-z0-9_-]{0,62})(?::(\*|predict|explain))?")


def amount_for(units: int, price_per_1k_micros: int) -> int:
    """Integer micros owed for `units` at a price per 1,000 units, rounded half up."""
    return (units * price_per_1k_micros + 500) // 1000


def max_units_within(budget_micros: int, price_per_1k_micros: int) -> int:
    """The most units whose amount (rounded half up, as billed) stays within the budget."""
    units = budget_micros * 1000 // price_per_1k_micros
    while units > 0 and amount_for(units, price_per_1k_micros) > budget_micros:
        units -= 1
    while amount_for(units + 1, price_per_1k_micros) <= budget_micros:
        units += 1
    return units


def _prorate(value: int, part: float, whole: float) -> int:
    """value x part / whole, rounded half up (seconds as floats: sub-second shares are noise)."""
    if part >= whole:
        return value
    return int(value * part / whole + 0.5)


def parse_prices(specs: list[str] | None, currency: str) -> dict[str, int]:
    """['reviews:explain=5.00', '*:explain=3', 'reviews=1.50'] -> {'reviews:explain': 5000000,
    '*:explain': 3000000, 'reviews:*': 1500000}."""
    out: dict[str, int] = {}
    for spec in specs or []:
        scope, sep, price = spec.partition("=")
        m = _SCOPE.fullmatch(scope.strip())
        if not sep or not m:
            raise InvalidInput(
                f"--price '{spec[:100]}' is not SCENARIO[:UNIT_TYPE]=PRICE; e.g. "
                "reviews:explain=5.00 or *:explain=3.00 (unit types: predict, explain)"
            )
        key = f"{m.group(1)}:{m.group(2) or '*'}"
        if key == "*:*":
            raise InvalidInput("--price *:* is the default price; set it with --price-per-1k")
        if key in out:
            raise InvalidInput(f"--price {key} is given twice; give each scope once")
        out[key] = ranges.money_micros(price, currency, f"--price {key}")
    return out


def parse_tiers(specs: list[str] | None, currency: str) -> list[dict[str, Any]]:
    """['100000=2.00', '1000000=1.50', 'inf=1.00'] -> tiers with ascending `up_to` (units in
    the month, None for the last, open tier)."""
    tiers: list[dict[str, Any]] = []
    for spec in specs or []:
        upto, sep, price = spec.partition("=")
        upto = upto.strip().replace(",", "").replace("_", "")
        if not sep or not (re.fullmatch(r"[0-9]{1,30}", upto) or upto.lower() == "inf"):
            raise InvalidInput(
                f"--tier '{spec[:100]}' is not UP_TO_UNITS=PRICE; e.g. --tier 100000=2.00 "
                "--tier inf=1.00"
            )
        bound = None
        if upto.lower() != "inf":
            bound = ranges.whole_number(int(upto), "--tier bound", 1, ranges.MAX_UNITS, "units")
        tiers.append(
            {
                "up_to": bound,
                "price_per_1k_micros": ranges.money_micros(price, currency, "--tier price"),
            }
        )
    if not tiers:
        return tiers
    bounds = [t["up_to"] for t in tiers]
    if bounds[-1] is not None:
        raise InvalidInput("the last --tier must be open-ended: add e.g. --tier inf=1.00")
    finite = bounds[:-1]
    if None in finite or any(b <= 0 for b in finite) or finite != sorted(set(finite)):
        raise InvalidInput(
            "--tier bounds must be positive, ascending and distinct, with only the last one inf"
        )
    return tiers


@dataclass(frozen=True)
class Pricing:
    """One plan version's prices (a row of `plans`)."""

    currency: str
    price_per_1k_micros: int
    prices: dict[str, int]
    tiers: tuple[tuple[int | None, int], ...]
    tier_mode: str
    fee_micros: int
    included_units: int

    @classmethod
    def of(cls, plan: dict[str, Any]) -> Pricing:
        return cls(
            currency=plan["currency"],
            price_per_1k_micros=plan["price_per_1k_micros"],
            prices=dict(plan.get("prices") or {}),
            tiers=tuple((t["up_to"], t["price_per_1k_micros"]) for t in plan.get("tiers") or []),
            tier_mode=plan.get("tier_mode") or "graduated",
            fee_micros=plan.get("fee_micros") or 0,
            included_units=plan.get("included_units") or 0,
        )

    def rate(self, scenario: str, unit_type: str) -> int | None:
        """The most specific override for this scenario and unit type; None: the default price
        (or the tiers)."""
        for key in (f"{scenario}:{unit_type}", f"{scenario}:*", f"*:{unit_type}"):
            if key in self.prices:
                return self.prices[key]
        return None

    def default_rate(self) -> int:
        return self.tiers[0][1] if self.tiers else self.price_per_1k_micros

    @property
    def max_rate(self) -> int:
        """The dearest price of a unit under this plan: a budget converted to units at this
        rate can never be overspent."""
        rates = [self.price_per_1k_micros, *self.prices.values()]
        rates += [p for _, p in self.tiers]
        return max(rates)

    def describe(self) -> str:
        money = lambda m: Money(m, self.currency).decimal_str()  # noqa: E731
        parts = []
        if self.fee_micros:
            parts.append(f"{money(self.fee_micros)} {self.currency}/month")
        if self.included_units:
            parts.append(f"{self.included_units:,} units included")
        if self.tiers:
            prev = 0
            steps = []
            for up_to, price in self.tiers:
                label = f"{prev + 1:,}-{up_to:,}" if up_to is not None else f"{prev + 1:,}+"
                steps.append(f"{label} @ {money(price)}")
                prev = up_to or prev
            parts.append(f"{self.tier_mode} tiers per 1k: " + ", ".join(steps))
        else:
            parts.append(f"{money(self.price_per_1k_micros)} per 1k")
        parts += [f"{k} @ {money(v)}" for k, v in sorted(self.prices.items())]
        return "; ".join(parts)


def period_bounds(period: str) -> tuple[datetime, datetime]:
    year, month = int(period[:4]), int(period[5:7])
    start = datetime(year, month, 1, tzinfo=UTC)
    return start, datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Segment:
    plan: dict[str, Any]
    start: datetime
    end: datetime
    trial: bool


def segments(
    history: list[dict[str, Any]],
    plans: dict[int, dict[str, Any]],
    period: str,
    trial_ends_at: datetime | None,
) -> list[Segment]:
    """The parts of `period` by plan (history: rows with plan_id and starts_at, ascending),
    cut again at the end of the trial."""
    ps, pe = period_bounds(period)
    if history and history[0]["starts_at"] >= pe:  # usage recorded for a period before the
        history = [{**history[0], "starts_at": ps}]  # plan history begins: the first plan
    out = []
    for i, h in enumerate(history):
        start = max(h["starts_at"], ps)
        end = min(history[i + 1]["starts_at"], pe) if i + 1 < len(history) else pe
        if end <= start:
            continue
        cuts = [start, end]
        if trial_ends_at is not None and start < trial_ends_at < end:
            cuts = [start, trial_ends_at, end]
        for a, b in itertools.pairwise(cuts):
            trial = trial_ends_at is not None and b <= trial_ends_at
            out.append(Segment(plans[h["plan_id"]], a, b, trial))
    return out


def _fmt_day(d: datetime, end: bool = False) -> str:
    # an end bound is exclusive: a segment ending at midnight ends the day before
    if end and (d.hour, d.minute, d.second, d.microsecond) == (0, 0, 0, 0):
        d = d - timedelta(days=1)
    return f"{d:%d %b}"


def charge_segment(
    seg: Segment, usage: list[dict[str, Any]], period: str, several: bool
) -> list[dict[str, Any]]:
    """Invoice lines for one segment; `usage`: units and requests per scenario and unit type
    within the segment. Every line has amount_micros; the subtotal is their sum."""
    ps, pe = period_bounds(period)
    whole = (pe - ps).total_seconds()
    part = (seg.end - seg.start).total_seconds()
    p = Pricing.of(seg.plan)
    plan_label = f"{seg.plan['name']} v{seg.plan.get('version') or 1}"
    when = f" ({_fmt_day(seg.start)}-{_fmt_day(seg.end, end=True)})" if part < whole else ""
    lines: list[dict[str, Any]] = []
    if seg.trial:
        for r in usage:  # listed, so the invoice shows what the trial used
            line = _usage_line(r, f" · {plan_label}{when}, trial: not charged", 0, 0, 0, 0)
            lines.append({**line, "kind": "trial"})
        return lines
    if p.fee_micros:
        fee = _prorate(p.fee_micros, part, whole)
        prorated = f", prorated {part / 86400:.2f} of {whole / 86400:.0f} days" if when else ""
        lines.append(
            {
                "description": f"Subscription {plan_label}{when}{prorated}",
                "kind": "subscription",
                "quantity": 1,
                "amount_micros": fee,
            }
        )
    left = _prorate(p.included_units, part, whole)

    # included units go to the dearest usage first (the order most favourable to the customer)
    def price(r: dict[str, Any]) -> int:
        rate = p.rate(r["scenario"], r["unit_type"])
        return p.default_rate() if rate is None else rate

    ordered = sorted(usage, key=lambda r: (-price(r), r["scenario"], r["unit_type"]))
    tiered_units = 0
    suffix = f" · {plan_label}{when}" if several else ""
    for r in ordered:
        included = min(left, r["units"])
        left -= included
        billable = r["units"] - included
        rate = p.rate(r["scenario"], r["unit_type"])
        if rate is None and p.tiers:
            tiered_units += billable
            lines.append(_usage_line(r, suffix, included, billable, None, 0))
        else:
            rate = p.price_per_1k_micros if rate is None else rate
            lines.append(
                _usage_line(r, suffix, included, billable, rate, amount_for(billable, rate))
            )
    if p.tiers and tiered_units:
        lines += _tier_lines(p, tiered_units, suffix)
    return lines


def _usage_line(
    r: dict[str, Any], suffix: str, included: int, billable: int, rate: int | None, amount: int
) -> dict[str, Any]:
    line = {
        "description": f"{r['scenario']} · {r['unit_type']} units{suffix}",
        "kind": "usage",
        "scenario": r["scenario"],
        "unit_type": r["unit_type"],
        "quantity": r["units"],
        "requests": r["requests"],
        "included_units": included,
        "billable_units": billable,
        "amount_micros": amount,
    }
    if rate is None:
        line["tiered"] = True  # charged on the tier lines that follow
    else:
        line["unit_price_per_1k_micros"] = rate
    return line


def _tier_lines(p: Pricing, units: int, suffix: str) -> list[dict[str, Any]]:
    money = lambda m: Money(m, p.currency).decimal_str()  # noqa: E731
    lines = []
    if p.tier_mode == "volume":
        for up_to, price in p.tiers:
            if up_to is None or units <= up_to:
                reach = f"up to {up_to:,}" if up_to is not None else "over the last bound"
                lines.append(
                    {
                        "description": f"Volume price: all {units:,} units at {money(price)} "
                        f"per 1k ({reach}){suffix}",
                        "kind": "tier",
                        "quantity": units,
                        "unit_price_per_1k_micros": price,
                        "amount_micros": amount_for(units, price),
                    }
                )
                return lines
    prev = 0
    for i, (up_to, price) in enumerate(p.tiers, 1):
        n = min(units - prev, up_to - prev) if up_to is not None else units - prev
        if n <= 0:
            break
        bound = f"{prev + 1:,}-{prev + n:,}"
        lines.append(
            {
                "description": f"Tier {i}: units {bound}{suffix}",
                "kind": "tier",
                "quantity": n,
                "unit_price_per_1k_micros": price,
                "amount_micros": amount_for(n, price),
            }
        )
        prev += n
    return lines


def usage_cap(pricing: Pricing, quota: int | None, budget_micros: int | None) -> int | None:
    """Units a tenant may use in a month: the quota, or what the budget buys at the plan's
    dearest unit price on top of the included units, whichever is lower (None: no cap)."""
    caps = [] if quota is None else [quota]
    if budget_micros is not None and pricing.max_rate > 0:
        caps.append(pricing.included_units + max_units_within(budget_micros, pricing.max_rate))
    return min(caps) if caps else None
