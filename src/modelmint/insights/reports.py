"""Revenue, cost to serve, margin and experiments, grouped by scenario, tenant, model version or
plan, from the facts of `ledger.collect`. Figures stay per currency unless a target currency is
given (then every amount is converted with the owner's dated rates, and the report says so).
Money is integer micros; each figure is shown as a decimal string beside its micros."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from modelmint.billing import ranges
from modelmint.errors import InvalidInput
from modelmint.insights.fx import Converter
from modelmint.insights.ledger import MICROS, CostPrices, Facts, collect, last_day
from modelmint.insights.periods import Span, parse_span
from modelmint.settings import Settings
from modelmint.store import Store

DIMENSIONS = ("scenario", "tenant", "version", "plan")


def check_by(by: str, allowed: Iterable[str] = DIMENSIONS) -> str:
    allowed = tuple(allowed)
    if by not in allowed:
        raise InvalidInput(
            f"--by '{by[:40]}' is not one of {', '.join(allowed)}; e.g. --by scenario"
        )
    return by


def group_key(f: dict[str, Any], by: str) -> str:
    if by == "version":
        v = f.get("version")
        return f"{f['scenario']}:{v}" if v is not None else f"{f['scenario']} (no version)"
    return str(f[by])


def money(micros: int | None) -> str | None:
    """Micros as a decimal string with 2 to 6 decimals (None stays None)."""
    if micros is None:
        return None
    d = (Decimal(micros) / MICROS).quantize(Decimal("0.000001"))
    text = f"{d:f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def _with_money(row: dict[str, Any], *names: str) -> dict[str, Any]:
    for n in names:
        row[n] = money(row.get(f"{n}_micros"))
    return row


class MoneyView:
    """Converts sums of micros (one per group, currency and period: each converted once) with
    the owner's dated rates; without a target currency, amounts stay in their own."""

    def __init__(self, store: Store, currency: str | None) -> None:
        self.target = ranges.currency_code(currency, "--currency") if currency else None
        self.rates = store.insights.rates()
        self.convs: dict[str, Converter] = {}

    def to(self, micros: int, currency: str, target: str, period: str) -> int:
        """`micros` of `currency` in `target` at the period's last day (InvalidInput: no rate)."""
        if currency == target:
            return micros
        conv = self.convs.setdefault(target, Converter(self.rates, target))
        return conv.convert(micros, currency, last_day(period))

    def convert(self, micros: int, currency: str, period: str) -> tuple[int, str]:
        if self.target is None:
            return micros, currency
        return self.to(micros, currency, self.target, period), self.target

    def notes(self) -> list[str]:
        return [n for c in self.convs.values() for n in c.notes()]


def money_span(period: str | None, since: str | None, until: str | None, now: datetime) -> Span:
    return parse_span(period, since, until, now=now).whole_periods()


def _gather(
    store: Store,
    settings: Settings,
    by: str,
    period: str | None,
    since: str | None,
    until: str | None,
    currency: str | None,
    now: datetime | None,
    *,
    costs: bool = True,
) -> tuple[Span, MoneyView, Facts]:
    """What every money report starts from: the grouping checked, the whole months asked for,
    the currency view and the ledger's facts of those months (costs too, unless not needed)."""
    check_by(by)
    now = now or datetime.now(UTC)
    span = money_span(period, since, until, now)
    m = MoneyView(store, currency)
    return span, m, collect(store, settings, span, now=now, costs=costs)


def _head(report: str, span: Span, by: str, m: MoneyView, facts: Facts) -> dict[str, Any]:
    return {
        "report": report,
        "by": by,
        "span": span.as_json(),
        "currency": m.target,
        "converted": bool(m.target),
        "notes": list(facts.notes),
    }


def _sum_revenue(facts: Facts, by: str, m: MoneyView) -> dict[tuple[str, str], dict[str, int]]:
    """(group, currency) -> issued/draft micros; per period first, so conversion is per period."""
    raw: dict[tuple[str, str, str, bool], int] = defaultdict(int)
    for f in facts.revenue:
        issued = f["status"] == "issued"
        raw[(group_key(f, by), f["currency"], f["period"], issued)] += f["micros"]
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (g, cur, period, issued), micros in raw.items():
        amount, cur2 = m.convert(micros, cur, period)
        out[(g, cur2)]["issued_micros" if issued else "draft_micros"] += amount
    return out


def _series(
    facts: Facts, m: MoneyView, cost_of: Callable[[str, str], int | None] | None = None
) -> list[dict[str, Any]]:
    per: dict[tuple[str, str], int] = defaultdict(int)
    for f in facts.revenue:
        amount, cur = m.convert(f["micros"], f["currency"], f["period"])
        per[(f["period"], cur)] += amount
    out = []
    for (period, cur), micros in sorted(per.items()):
        row: dict[str, Any] = {"period": period, "currency": cur, "revenue_micros": micros}
        if cost_of is not None:
            cost = cost_of(period, cur)
            row["cost_micros"] = cost
            row["margin_micros"] = None if cost is None else micros - cost
            _with_money(row, "cost", "margin")
        out.append(_with_money(row, "revenue"))
    return out


def revenue(
    store: Store,
    settings: Settings,
    *,
    by: str = "scenario",
    period: str | None = None,
    since: str | None = None,
    until: str | None = None,
    currency: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Issued invoices (net of credit notes) and drafts, allocated by `by`."""
    span, m, facts = _gather(store, settings, by, period, since, until, currency, now, costs=False)
    sums = _sum_revenue(facts, by, m)
    calls = _calls(facts, by, m, live_only=True)
    rows = []
    for key in sorted(set(sums) | set(calls)):
        s = sums.get(key, {})
        issued, draft = s.get("issued_micros", 0), s.get("draft_micros", 0)
        row = {
            by: key[0],
            "currency": key[1],
            "issued_micros": issued,
            "draft_micros": draft,
            "revenue_micros": issued + draft,
            "calls": calls[key][0],
            "units": calls[key][1],
        }
        rows.append(_with_money(row, "issued", "draft", "revenue"))
    out = _head("revenue", span, by, m, facts)
    out["rows"] = rows
    out["series"] = _series(facts, m)
    out["invoices"] = facts.invoices
    out["notes"] += m.notes()
    return out


def _sum_cost(
    facts: Facts, by: str, prices: CostPrices, m: MoneyView, per_currency: bool
) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    """(group, currency) -> cost figures. Costs are measured in the cost currency; with
    `per_currency` each is put in the currency of the tenant it served, so that it meets that
    tenant's revenue (converted where a rate exists; else the amount is None and the returned
    messages say which rate is missing). With a target currency, everything is in it."""
    raw: dict[tuple[str, str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"micros": 0, "compute_s": 0.0, "predictions": 0, "measured": 0}
    )
    for f in facts.cost:
        cur = (f["tenant_currency"] or prices.currency) if per_currency else prices.currency
        r = raw[(group_key(f, by), m.target or cur, f["period"], f["kind"])]
        r["micros"] += f["micros"]
        r["compute_s"] += f["compute_s"]
        r["predictions"] += f["predictions"]
        r["measured"] += f["measured"]
    out: dict[tuple[str, str], dict[str, Any]] = {}
    missing: set[str] = set()
    for (g, target, period, kind), r in sorted(raw.items()):
        amount: int | None
        try:
            amount = m.to(r["micros"], prices.currency, target, period)
        except InvalidInput as exc:
            amount = None
            missing.add(str(exc))
        o = out.setdefault((g, target), {**dict.fromkeys(COST_KINDS, 0), **_ZERO})
        if kind == "experiment":
            o["experiment_s"] += r["compute_s"]
        else:
            o["compute_s"] += r["compute_s"]
            o["predictions"] += r["predictions"]
            o["measured"] += r["measured"]
        k = f"{kind}_micros"
        o[k] = None if amount is None or o[k] is None else o[k] + amount
    for o in out.values():
        parts = [o[k] for k in COST_KINDS]
        o["cost_micros"] = None if None in parts else sum(parts)
    return out, sorted(missing)


COST_KINDS = ("serving_micros", "experiment_micros", "storage_micros", "fixed_micros")
_ZERO = {"compute_s": 0.0, "experiment_s": 0.0, "predictions": 0, "measured": 0}


def _calls(
    facts: Facts, by: str, m: MoneyView, live_only: bool
) -> dict[tuple[str, str], list[int]]:
    """(group, currency) -> [calls, units] (live calls only, or every metered call)."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for c in facts.calls:
        if live_only and not c["live"]:
            continue
        key = (group_key({**c, "version": c["model_version"]}, by), m.target or c["currency"])
        out[key][0] += c["calls"]
        out[key][1] += c["units"]
    return out


def _per_1k(micros: int | None, calls: int) -> int | None:
    return None if micros is None or calls == 0 else (micros * 1000 + calls // 2) // calls


def costs(
    store: Store,
    settings: Settings,
    *,
    by: str = "scenario",
    period: str | None = None,
    since: str | None = None,
    until: str | None = None,
    currency: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Measured cost to serve by `by`: compute seconds behind it, cost per 1,000 calls."""
    span, m, facts = _gather(store, settings, by, period, since, until, currency, now)
    prices = CostPrices.of(settings)
    sums, missing = _sum_cost(facts, by, prices, m, per_currency=False)
    calls = _calls(facts, by, MoneyView(store, None) if not m.target else m, live_only=False)
    rows = []
    for (g, cur), o in sorted(sums.items()):
        n = sum(v[0] for (g2, _), v in calls.items() if g2 == g)
        row = {
            by: g,
            "currency": cur,
            "calls": n,
            "predictions": o["predictions"],
            "compute_seconds": round(o["compute_s"], 3),
            "core_seconds": round(o["compute_s"] * prices.cores, 3),
            "experiment_seconds": round(o["experiment_s"], 3),
            "measured_share": round(o["measured"] / o["predictions"], 4)
            if o["predictions"]
            else None,
            **{k: o[k] for k in (*COST_KINDS, "cost_micros")},
            "per_1k_calls_micros": _per_1k(o["cost_micros"], n),
            "serving_per_1k_calls_micros": _per_1k(o["serving_micros"], n),
        }
        rows.append(
            _with_money(
                row,
                "serving",
                "experiment",
                "storage",
                "fixed",
                "cost",
                "per_1k_calls",
                "serving_per_1k_calls",
            )
        )
    out = _head("costs", span, by, m, facts)
    out["prices"] = prices.describe()
    out["rows"] = rows
    out["notes"] += missing + m.notes()
    return out


def margin(
    store: Store,
    settings: Settings,
    *,
    by: str = "scenario",
    period: str | None = None,
    since: str | None = None,
    until: str | None = None,
    currency: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Revenue - cost to serve by `by`, per currency (or in one), with gross margin %."""
    span, m, facts = _gather(store, settings, by, period, since, until, currency, now)
    prices = CostPrices.of(settings)
    rev = _sum_revenue(facts, by, m)
    cost, missing = _sum_cost(facts, by, prices, m, per_currency=True)
    calls = _calls(facts, by, m, live_only=True)
    rows = []
    for key in sorted(set(rev) | set(cost)):
        r = rev.get(key, {})
        revenue_micros = r.get("issued_micros", 0) + r.get("draft_micros", 0)
        c = cost.get(key, {}).get("cost_micros", 0)
        mg = None if c is None else revenue_micros - c
        row = {
            by: key[0],
            "currency": key[1],
            "calls": calls[key][0] if key in calls else 0,
            "revenue_micros": revenue_micros,
            "cost_micros": c,
            "margin_micros": mg,
            "margin_pct": None
            if mg is None or revenue_micros <= 0
            else round(100 * mg / revenue_micros, 2),
        }
        rows.append(_with_money(row, "revenue", "cost", "margin"))
    # the series: revenue and cost per period and currency
    per_cost: dict[tuple[str, str], int | None] = defaultdict(int)
    for f in facts.cost:
        cur = m.target or f["tenant_currency"] or prices.currency
        try:
            amount: int | None = m.to(f["micros"], prices.currency, cur, f["period"])
        except InvalidInput:
            amount = None
        prev = per_cost[(f["period"], cur)]
        per_cost[(f["period"], cur)] = None if prev is None or amount is None else prev + amount
    out = _head("margin", span, by, m, facts)
    out["prices"] = prices.describe()
    out["rows"] = rows
    out["series"] = _series(facts, m, lambda p, cur: per_cost.get((p, cur), 0))
    out["notes"] += missing + m.notes()
    return out
