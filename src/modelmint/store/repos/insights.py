"""What business insights read: usage, compute time, outcomes and tenants' first steps, grouped
in the database (one GROUP BY over the ledger per report, never a row per call in Python), and
the owner's dated exchange rates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from modelmint.store import tables as t
from modelmint.store.db import Database, as_utc, utcnow
from modelmint.store.repos.common import as_dicts, upsert


def _int(v: Any) -> int:
    return int(v or 0)


class InsightsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def usage_totals(self, periods: Sequence[str]) -> list[dict[str, Any]]:
        """Units and calls per period, tenant, scenario, unit type, answering version and
        live/test, for the billing periods given."""
        u = t.usage.c
        keys = (u.period, u.tenant_id, u.scenario, u.unit_type, u.model_version, u.live)
        q = (
            select(*keys, func.sum(u.units).label("units"), func.count().label("calls"))
            .where(u.period.in_(list(periods)))
            .group_by(*keys)
        )
        with self.db.read() as c:
            rows = as_dicts(c.execute(q))
        return [
            {**r, "units": _int(r["units"]), "calls": _int(r["calls"]), "live": bool(r["live"])}
            for r in rows
        ]

    def compute_totals(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Measured compute time per tenant, scenario, version and arm kind (shadow: an
        experiment's cost, or serving) of the predictions logged in [start, end)."""
        p = t.predictions.c
        shadow = case((p.arm == "shadow", True), else_=False).label("shadow")
        q = (
            select(
                p.tenant_id,
                p.scenario,
                p.model_version,
                shadow,
                func.sum(p.compute_ms).label("compute_ms"),
                func.count().label("predictions"),
                func.count(p.compute_ms).label("measured"),
            )
            .where(p.created_at >= start, p.created_at < end)
            .group_by(p.tenant_id, p.scenario, p.model_version, shadow)
        )
        with self.db.read() as c:
            rows = as_dicts(c.execute(q))
        return [
            {
                **r,
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
        """Each tenant's first live call per scenario."""
        u = t.usage.c
        q = (
            select(u.tenant_id, u.scenario, func.min(u.created_at).label("at"))
            .where(u.live.is_(True))
            .group_by(u.tenant_id, u.scenario)
        )
        with self.db.read() as c:
            rows = as_dicts(c.execute(q))
        return [{**r, "at": as_utc(r["at"])} for r in rows]

    def monthly_calls(self) -> list[dict[str, Any]]:
        """Live calls per tenant, scenario and period."""
        u = t.usage.c
        q = (
            select(u.tenant_id, u.scenario, u.period, func.count().label("calls"))
            .where(u.live.is_(True))
            .group_by(u.tenant_id, u.scenario, u.period)
        )
        with self.db.read() as c:
            return [{**r, "calls": _int(r["calls"])} for r in as_dicts(c.execute(q))]

    def nth_call_at(
        self, tenant_id: int, period: str, n: int, scenario: str | None = None
    ) -> datetime | None:
        """When the tenant's n-th live call of the period (to the scenario) was made."""
        u = t.usage.c
        cond = [u.tenant_id == tenant_id, u.period == period, u.live.is_(True)]
        if scenario is not None:
            cond.append(u.scenario == scenario)
        q = (
            select(u.created_at)
            .where(and_(*cond))
            .order_by(u.created_at, u.id)
            .offset(n - 1)
            .limit(1)
        )
        with self.db.read() as c:
            return as_utc(c.execute(q).scalar())

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
