"""What business insights read: the hourly rollup of the ledger (`usage_hourly`, written in the
metering transaction with the calls it counts), so a monthly report reads a few thousand rows
however many calls were made; the usage index for the exact instant of a tenant's first or n-th
call within an hour; outcomes; and the owner's dated exchange rates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from modelmint.store import tables as t
from modelmint.store.db import Database, as_utc, utcnow
from modelmint.store.repos.common import as_dicts, upsert

HOUR = timedelta(hours=1)


def _int(v: Any) -> int:
    return int(v or 0)


class InsightsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def usage_totals(self, periods: Sequence[str]) -> list[dict[str, Any]]:
        """Units and calls per period, tenant, scenario, unit type, answering version (None:
        unknown) and live/test, for the billing periods given (from the hourly rollup)."""
        h = t.usage_hourly.c
        keys = (h.period, h.tenant_id, h.scenario, h.unit_type, h.model_version, h.live)
        q = (
            select(*keys, func.sum(h.units).label("units"), func.sum(h.calls).label("calls"))
            .where(h.period.in_(list(periods)), h.shadow.is_(False))
            .group_by(*keys)
        )
        with self.db.read() as c:
            rows = as_dicts(c.execute(q))
        return [
            {
                **r,
                "model_version": r["model_version"] or None,
                "units": _int(r["units"]),
                "calls": _int(r["calls"]),
                "live": bool(r["live"]),
            }
            for r in rows
            if _int(r["calls"])
        ]

    def calls_by_hour(self, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """Live calls per hour in [start, end) (the dashboard's traffic chart)."""
        h = t.usage_hourly.c
        q = (
            select(h.hour, func.sum(h.calls))
            .where(h.hour >= start, h.hour < end, h.live.is_(True), h.shadow.is_(False))
            .group_by(h.hour)
            .order_by(h.hour)
        )
        with self.db.read() as c:
            return [(as_utc(r[0]) or start, _int(r[1])) for r in c.execute(q)]

    def compute_totals(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Measured compute time per tenant, scenario, version and arm kind (shadow: an
        experiment's cost, or serving) of the predictions metered in the hours of [start,
        end)."""
        h = t.usage_hourly.c
        keys = (h.tenant_id, h.scenario, h.model_version, h.shadow)
        q = (
            select(
                *keys,
                func.sum(h.compute_ms).label("compute_ms"),
                func.sum(h.predictions).label("predictions"),
                func.sum(h.measured).label("measured"),
            )
            .where(h.hour >= start, h.hour < end)
            .group_by(*keys)
        )
        with self.db.read() as c:
            rows = as_dicts(c.execute(q))
        return [
            {
                **r,
                "model_version": r["model_version"] or None,
                "shadow": bool(r["shadow"]),
                "compute_ms": float(r["compute_ms"] or 0.0),
                "predictions": _int(r["predictions"]),
                "measured": _int(r["measured"]),
            }
            for r in rows
        ]

    def version_outcomes(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Per scenario, version and outcome event: the predictions (answered, not shadow) of
        [start, end) that got the event, and the sum of its values."""
        p, o = t.predictions.c, t.outcomes.c
        q = (
            select(
                p.scenario,
                p.model_version,
                o.event,
                func.count(func.distinct(o.prediction_id)).label("with_event"),
                func.sum(o.value).label("value"),
            )
            .select_from(t.outcomes.join(t.predictions, t.predictions.c.id == o.prediction_id))
            .where(
                p.created_at >= start,
                p.created_at < end,
                or_(p.arm.is_(None), p.arm != "shadow"),
            )
            .group_by(p.scenario, p.model_version, o.event)
        )
        with self.db.read() as c:
            rows = as_dicts(c.execute(q))
        return [
            {**r, "with_event": _int(r["with_event"]), "value": float(r["value"] or 0.0)}
            for r in rows
        ]

    def tenants(self) -> list[dict[str, Any]]:
        """Every tenant with its first plan (the one it signed up on) and trial end."""
        first = (
            select(t.tenant_plans.c.tenant_id, func.min(t.tenant_plans.c.id).label("hid"))
            .group_by(t.tenant_plans.c.tenant_id)
            .subquery()
        )
        h = t.tenant_plans.alias("h")
        q = (
            select(
                t.tenants.c.id,
                t.tenants.c.name,
                t.tenants.c.created_at,
                t.tenants.c.trial_ends_at,
                t.tenants.c.plan_id.label("current_plan_id"),
                func.coalesce(h.c.plan_id, t.tenants.c.plan_id).label("plan_id"),
            )
            .select_from(
                t.tenants.outerjoin(first, first.c.tenant_id == t.tenants.c.id).outerjoin(
                    h, h.c.id == first.c.hid
                )
            )
            .order_by(t.tenants.c.id)
        )
        with self.db.read() as c:
            rows = as_dicts(c.execute(q))
        for r in rows:
            r["created_at"] = as_utc(r["created_at"])
            r["trial_ends_at"] = as_utc(r["trial_ends_at"])
        return rows

    def plan_changes(self) -> list[dict[str, Any]]:
        """Every tenant's plan history (tenant_id, plan name and currency, starts_at), oldest
        first."""
        h, p = t.tenant_plans.c, t.plans.c
        q = (
            select(h.tenant_id, h.starts_at, p.name.label("plan"), p.currency)
            .join(t.plans, t.plans.c.id == h.plan_id)
            .order_by(h.tenant_id, h.starts_at, h.id)
        )
        with self.db.read() as c:
            return as_dicts(c.execute(q))

    def first_calls(self) -> list[dict[str, Any]]:
        """Each tenant's first live call per scenario, to the microsecond: the rollup finds its
        hour, the usage index the call within it."""
        h = t.usage_hourly.c
        called = and_(h.live.is_(True), h.shadow.is_(False), h.calls > 0)
        first = (
            select(h.tenant_id, h.scenario, func.min(h.hour).label("first"))
            .where(called)
            .group_by(h.tenant_id, h.scenario)
            .subquery()
        )
        q = (
            select(h.tenant_id, h.scenario, h.hour, h.period)
            .join(
                first,
                and_(
                    first.c.tenant_id == h.tenant_id,
                    first.c.scenario == h.scenario,
                    first.c.first == h.hour,
                ),
            )
            .where(called)
            .distinct()
        )
        u = t.usage.c
        out: dict[tuple[int, str], dict[str, Any]] = {}
        with self.db.read() as c:
            for tid, scenario, hour, period in c.execute(q).all():
                hour = as_utc(hour)
                at = c.execute(
                    select(func.min(u.created_at)).where(
                        u.tenant_id == tid,
                        u.period == period,
                        u.created_at >= hour,
                        u.created_at < hour + HOUR,
                        u.scenario == scenario,
                        u.live.is_(True),
                    )
                ).scalar()
                at = as_utc(at) or hour
                prev = out.get((tid, scenario))
                if prev is None or at < prev["at"]:
                    out[(tid, scenario)] = {"tenant_id": tid, "scenario": scenario, "at": at}
        return list(out.values())

    def monthly_calls(self) -> list[dict[str, Any]]:
        """Live calls per tenant, scenario and period."""
        h = t.usage_hourly.c
        q = (
            select(h.tenant_id, h.scenario, h.period, func.sum(h.calls).label("calls"))
            .where(h.live.is_(True), h.shadow.is_(False))
            .group_by(h.tenant_id, h.scenario, h.period)
        )
        with self.db.read() as c:
            return [{**r, "calls": _int(r["calls"])} for r in as_dicts(c.execute(q))]

    def nth_call_at(
        self, tenant_id: int, period: str, n: int, scenario: str | None = None
    ) -> datetime | None:
        """When the tenant's n-th live call of the period (to the scenario) was made: the
        rollup's running count finds the hour, the usage index the call within it."""
        h, u = t.usage_hourly.c, t.usage.c
        cond = [h.tenant_id == tenant_id, h.period == period, h.live.is_(True)]
        cond.append(h.shadow.is_(False))
        if scenario is not None:
            cond.append(h.scenario == scenario)
        q = select(h.hour, func.sum(h.calls)).where(and_(*cond)).group_by(h.hour).order_by(h.hour)
        with self.db.read() as c:
            seen = 0
            for hour, calls in c.execute(q):  # streamed in hour order: stops at the n-th call
                calls = _int(calls)
                if seen + calls >= n:
                    hour = as_utc(hour)
                    raw = [
                        u.tenant_id == tenant_id,
                        u.period == period,
                        u.created_at >= hour,
                        u.created_at < hour + HOUR,
                        u.live.is_(True),
                    ]
                    if scenario is not None:
                        raw.append(u.scenario == scenario)
                    at = c.execute(
                        select(u.created_at)
                        .where(and_(*raw))
                        .order_by(u.created_at, u.id)
                        .offset(n - seen - 1)
                        .limit(1)
                    ).scalar()
                    return as_utc(at) or hour
                seen += calls
        return None

    def set_rate(self, base: str, quote: str, day: str, rate: str) -> None:
        row = {"base": base, "quote": quote, "day": day, "rate": rate, "created_at": utcnow()}
        stmt = upsert(self.db.dialect, t.fx_rates).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["base", "quote", "day"],
            set_={"rate": row["rate"], "created_at": row["created_at"]},
        )
        with self.db.write() as c:
            c.execute(stmt)

    def rates(self) -> list[dict[str, Any]]:
        q = select(t.fx_rates).order_by(t.fx_rates.c.base, t.fx_rates.c.quote, t.fx_rates.c.day)
        with self.db.read() as c:
            return as_dicts(c.execute(q))
