"""The conversion funnel: tenant created -> first call -> active -> paid, per plan (the plan a
tenant signed up on) or per scenario, with weekly cohorts (the ISO week a tenant was created).

- first call: the tenant's first live call (to the scenario, by scenario);
- active: `active_calls` live calls (MODELMINT_ACTIVE_CALLS, default 100) within one calendar
  month; the step's time is that call's;
- paid: the first issued invoice with an amount due (total > 0; by scenario: whose allocation
  to the scenario is > 0); the step's time is the invoice's issue time.

By scenario, "created" is every tenant of the cohort (any of them could have called it), so
created -> first call is the scenario's adoption. Steps are counted as of `now`. Trial -> paid
conversion is given for the plans with trial days."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from modelmint.insights.allocation import allocate, line_weights
from modelmint.insights.periods import parse_span
from modelmint.insights.reports import check_by
from modelmint.settings import Settings
from modelmint.store import Store

STEPS = ("created", "first_call", "active", "paid")


def _week(at: datetime) -> str:
    monday = (at - timedelta(days=at.weekday())).date()
    return monday.isoformat()


def _median_days(deltas: list[timedelta]) -> float | None:
    if not deltas:
        return None
    return round(statistics.median(d.total_seconds() for d in deltas) / 86400, 2)


def _rate(a: int, b: int) -> float | None:
    return None if b == 0 else round(a / b, 4)


def _summarise(group: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {s: sum(1 for m in members if m.get(s) is not None) for s in STEPS}
    row: dict[str, Any] = {**group, **counts}
    for a, b in itertools.pairwise(STEPS):
        row[f"{a}_to_{b}"] = _rate(counts[b], counts[a])
        row[f"median_days_{a}_to_{b}"] = _median_days(
            [m[b] - m[a] for m in members if m.get(a) is not None and m.get(b) is not None]
        )
    row["conversion"] = _rate(counts["paid"], counts["created"])
    return row


def funnel(
    store: Store,
    settings: Settings,
    *,
    by: str = "plan",
    period: str | None = None,
    since: str | None = None,
    until: str | None = None,
    active_calls: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The funnel of the tenants created in the span (all time by default)."""
    now = now or datetime.now(UTC)
    check_by(by, ("plan", "scenario"))
    span = parse_span(period, since, until, now=now, default_all=True)
    threshold = active_calls or settings.active_calls
    plans = {p["id"]: p for p in store.billing.plans()}
    tenants = [
        t for t in store.insights.tenants() if span.start <= t["created_at"] < min(span.end, now)
    ]
    ids = {t["id"] for t in tenants}
    first: dict[tuple[int, str], datetime] = {}
    for r in store.insights.first_calls():
        if r["tenant_id"] in ids and r["at"] <= now:
            first[(r["tenant_id"], r["scenario"])] = r["at"]
    monthly: dict[tuple[int, str | None], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in store.insights.monthly_calls():
        if r["tenant_id"] in ids:
            monthly[(r["tenant_id"], r["scenario"])][r["period"]] += r["calls"]
            monthly[(r["tenant_id"], None)][r["period"]] += r["calls"]
    paid: dict[tuple[int, str | None], datetime] = {}
    for inv in store.invoices.list():
        tid = inv["tenant_id"]
        if tid not in ids or inv["kind"] != "invoice" or inv["total_micros"] <= 0:
            continue
        if inv["issued_at"] > now:
            continue
        paid.setdefault((tid, None), inv["issued_at"])
        for (scenario, _), amount in allocate(
            inv["total_micros"], line_weights(inv["lines"])
        ).items():
            if amount > 0:
                key = (tid, scenario)
                paid[key] = min(paid.get(key, inv["issued_at"]), inv["issued_at"])

    def active_at(tid: int, scenario: str | None) -> datetime | None:
        months = monthly.get((tid, scenario), {})
        for p in sorted(months):
            if months[p] >= threshold:
                at = store.insights.nth_call_at(tid, p, threshold, scenario)
                return at if at is not None and at <= now else None
        return None

    def member(t: dict[str, Any], scenario: str | None) -> dict[str, Any]:
        if scenario is None:
            calls = [at for (tid, _), at in first.items() if tid == t["id"]]
            fc = min(calls) if calls else None
        else:
            fc = first.get((t["id"], scenario))
        return {
            "created": t["created_at"],
            "first_call": fc,
            "active": active_at(t["id"], scenario) if fc is not None else None,
            "paid": paid.get((t["id"], scenario)),
            "week": _week(t["created_at"]),
        }

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if by == "plan":
        for t in tenants:
            groups[plans[t["plan_id"]]["name"]].append(member(t, None))
    else:
        scenarios = sorted({s for (_, s) in first})
        for s in scenarios:
            groups[s] = [member(t, s) for t in tenants]
    rows, cohorts = [], []
    for g, members in sorted(groups.items()):
        rows.append(_summarise({by: g}, members))
        weeks: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for m in members:
            weeks[m["week"]].append(m)
        for w, ms in sorted(weeks.items()):
            cohorts.append(_summarise({by: g, "week": w}, ms))
    trials = []
    for name in sorted({plans[t["plan_id"]]["name"] for t in tenants}):
        on = [t for t in tenants if plans[t["plan_id"]]["name"] == name and t["trial_ends_at"]]
        if not on:
            continue
        ended = [t for t in on if t["trial_ends_at"] <= now]
        converted = [t for t in ended if (t["id"], None) in paid]
        trials.append(
            {
                "plan": name,
                "trials": len(on),
                "ended": len(ended),
                "paid": len(converted),
                "trial_to_paid": _rate(len(converted), len(ended)),
                "median_days_trial_end_to_paid": _median_days(
                    [paid[(t["id"], None)] - t["trial_ends_at"] for t in converted]
                ),
            }
        )
    total = _summarise({by: "(all)"}, [member(t, None) for t in tenants])
    return {
        "report": "funnel",
        "by": by,
        "span": span.as_json(),
        "active_calls": threshold,
        "as_of": now.isoformat(),
        "rows": rows,
        "total": total,
        "cohorts": cohorts,
        "trials": trials,
        "notes": [
            f"active = at least {threshold:,} live calls in one calendar month "
            "(MODELMINT_ACTIVE_CALLS); paid = the first issued invoice with an amount due"
        ],
    }
