"""The metering transaction's mechanics (`BillingRepo.record_requests`).

The store does what makes metering exact: it locks each tenant's period counter in one order
(so concurrent batches cannot deadlock), reads the cached callers' keys again, claims
Idempotency-Keys by insert, and writes the counters, alert rows, prediction-log rows and usage
rows in the one transaction. What each call's outcome is, and which alerts it crosses, it asks
the billing stage's rules (`MeterRules`, passed in: `modelmint.billing.rules.RULES`), with what
it read under its locks. The store never imports billing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select, update

from modelmint.store import tables as t
from modelmint.store.db import new_id
from modelmint.store.repos.common import as_dicts, idempotency_digest, insert_ignore, upsert
from modelmint.types import MeterItem, MeterOutcome

AlertLevel = tuple[str, int, int, int]
"""(kind, threshold %, level in units, cap in units), as in `MeterItem.alert_levels`."""


@dataclass(frozen=True, slots=True)
class MeteredKey:
    """A cached caller's API key as the metering transaction reads it again."""

    revoked_at: datetime | None
    expires_at: datetime | None
    """UTC; None for a key that never expires."""
    tenant_status: str
    """The tenant's status now: trial, active or suspended."""
    plan_id: int
    """The tenant's plan now."""


class MeterRules(Protocol):
    """The billing rules the metering transaction applies to each call, in arrival order."""

    def decide(
        self, item: MeterItem, key: MeteredKey | None, used_before: int, now: datetime
    ) -> MeterOutcome:
        """OK to record the call, or why not. ``key`` is the call's key read in this
        transaction when ``item.plan_id`` is set (None: the key is gone), else None;
        ``used_before`` is the tenant's period counter before the call (live calls; 0 for test
        traffic), read under its lock."""
        ...

    def crossed_alerts(
        self, item: MeterItem, used_before: int, used_after: int
    ) -> Sequence[AlertLevel]:
        """The alert levels an accepted live call crosses: each gets its alert row."""
        ...


def hourly_rows(items: Sequence[MeterItem], now: datetime) -> list[dict[str, Any]]:
    """The `usage_hourly` increments of metered `items` (all at `now`): calls, units,
    predictions and their compute time per hour, tenant, scenario, unit type, version, live and
    shadow."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    agg: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(i: MeterItem, version: Any, shadow: bool, rows: Sequence[dict[str, Any]]) -> None:
        key = (i.tenant_id, i.scenario, i.unit_type, version or 0, i.live, shadow, i.period)
        a = agg.setdefault(
            key,
            {"calls": 0, "units": 0, "predictions": 0, "measured": 0, "compute_ms": 0.0},
        )
        if not shadow:
            a["calls"] += 1
            a["units"] += i.units
        ms = [r.get("compute_ms") for r in rows]
        a["predictions"] += len(rows)
        a["measured"] += sum(1 for m in ms if m is not None)
        a["compute_ms"] += float(sum(m for m in ms if m is not None))

    for i in items:
        add(i, i.model_version, False, i.prediction_rows)
        by_version: dict[Any, list[dict[str, Any]]] = {}
        for r in i.shadow_rows:
            by_version.setdefault(r.get("model_version"), []).append(r)
        for version, rows in by_version.items():
            add(i, version, True, rows)
    return [
        {
            "hour": hour,
            "tenant_id": k[0],
            "scenario": k[1],
            "unit_type": k[2],
            "model_version": k[3],
            "live": k[4],
            "shadow": k[5],
            "period": k[6],  # the call's billing period (the usage row's)
            **v,
        }
        for k, v in agg.items()
    ]


def meter_item(fields: Mapping[str, Any]) -> MeterItem:
    """A `MeterItem` from a dict of its fields (the keyword form callers used before
    `MeterItem`); sequences become tuples."""
    values = dict(fields)
    values["prediction_rows"] = tuple(values["prediction_rows"])
    values["alert_levels"] = tuple(tuple(a) for a in values.get("alert_levels") or ())
    if values.get("idempotency") is not None:
        values["idempotency"] = tuple(values["idempotency"])
    return MeterItem(**values)


class MeteringTransaction:
    """The statements of the metering transaction, built once per database: SQLAlchemy
    memoises a statement's cache key, so executing a prebuilt statement skips building and
    keying it per call."""

    def __init__(self, dialect: str) -> None:
        key = select(
            t.api_keys.c.id,
            t.api_keys.c.revoked_at,
            t.api_keys.c.expires_at,
            t.tenants.c.status,
            t.tenants.c.plan_id,
        ).join(t.tenants, t.tenants.c.id == t.api_keys.c.tenant_id)
        counter = upsert(dialect, t.quota_counters).values(
            tenant_id=bindparam("tenant_id"), period=bindparam("period"), units=0
        )
        self.key_one = key.where(t.api_keys.c.id == bindparam("key_id"))
        self.key_many = key.where(t.api_keys.c.id.in_(bindparam("key_ids", expanding=True)))
        self.lock_counter = counter.on_conflict_do_update(
            index_elements=["tenant_id", "period"], set_={"units": t.quota_counters.c.units}
        ).returning(t.quota_counters.c.units)
        self.set_counter = (
            update(t.quota_counters)
            .where(
                t.quota_counters.c.tenant_id == bindparam("b_tenant"),
                t.quota_counters.c.period == bindparam("b_period"),
            )
            .values(units=bindparam("b_units"))
        )
        self.claim_idempotency = insert_ignore(dialect, t.idempotency_keys).returning(
            t.idempotency_keys.c.key
        )
        self.insert_alert = insert_ignore(dialect, t.alerts)
        self.insert_predictions = insert(t.predictions)
        self.insert_usage = insert(t.usage)
        h = upsert(dialect, t.usage_hourly)
        self.upsert_hourly = h.on_conflict_do_update(
            index_elements=[c.name for c in t.usage_hourly.primary_key.columns],
            set_={
                k: t.usage_hourly.c[k] + h.excluded[k]
                for k in ("calls", "units", "predictions", "measured", "compute_ms")
            },
        )

    def run(
        self, c: Any, items: Sequence[MeterItem], rules: MeterRules, now: datetime
    ) -> list[MeterOutcome]:
        """Meter `items` on connection `c` (inside its write transaction), each exactly as if
        alone, in order; the outcome of each. A refused call writes nothing."""
        keys = self._keys(c, {i.key_id for i in items if i.plan_id is not None})
        # lock the counters in one order, so concurrent batches cannot deadlock
        groups = sorted({(i.tenant_id, i.period) for i in items if i.live})
        before = {g: self._lock_counter(c, *g) for g in groups}
        used = dict(before)
        outcomes: list[MeterOutcome] = []
        accepted: list[MeterItem] = []
        for item in items:
            group = (item.tenant_id, item.period)
            used_before = used[group] if item.live else 0
            key = keys.get(item.key_id) if item.plan_id is not None else None
            outcome = MeterOutcome(rules.decide(item, key, used_before, now))
            if (
                outcome == MeterOutcome.OK
                and item.idempotency is not None
                and not self._claim_idempotency(c, item.tenant_id, item.idempotency, now)
            ):
                outcome = MeterOutcome.CONFLICT
            outcomes.append(outcome)
            if outcome != MeterOutcome.OK:
                continue
            if item.live:
                after = used_before + item.units
                for kind, threshold, _level, cap in rules.crossed_alerts(item, used_before, after):
                    self._alert(c, group, kind, threshold, after, cap, now)
                used[group] = after
            accepted.append(item)
        for (tenant_id, period), units in used.items():
            if units != before[(tenant_id, period)]:
                c.execute(
                    self.set_counter, {"b_tenant": tenant_id, "b_period": period, "b_units": units}
                )
        self._insert(c, accepted, now)
        return outcomes

    def _keys(self, c: Any, key_ids: set[str]) -> dict[str, MeteredKey]:
        if not key_ids:
            return {}
        if len(key_ids) == 1:  # most batches: no expanding IN
            rows = c.execute(self.key_one, {"key_id": next(iter(key_ids))})
        else:
            rows = c.execute(self.key_many, {"key_ids": sorted(key_ids)})
        return {
            r["id"]: MeteredKey(
                revoked_at=r["revoked_at"],
                expires_at=r["expires_at"],
                tenant_status=r["status"],
                plan_id=r["plan_id"],
            )
            for r in as_dicts(rows)
        }

    def _lock_counter(self, c: Any, tenant_id: int, period: str) -> int:
        """The period's counter (created if absent), locked until the transaction ends: one
        upsert whose no-op update takes the row lock (PostgreSQL) inside SQLite's write lock."""
        return int(
            c.execute(self.lock_counter, {"tenant_id": tenant_id, "period": period}).scalar_one()
        )

    def _claim_idempotency(
        self, c: Any, tenant_id: int, idem: tuple[str, str, str], now: datetime
    ) -> bool:
        key, digest, response = idem
        values = dict(
            tenant_id=tenant_id,
            key=idempotency_digest(key),
            request_hash=digest,
            response=response,
            created_at=now,
        )
        # a row comes back only when inserted (rowcount is -1 with psycopg's RETURNING)
        return c.execute(self.claim_idempotency, values).first() is not None

    def _alert(
        self,
        c: Any,
        group: tuple[int, str],
        kind: str,
        threshold: int,
        used: int,
        cap: int,
        now: datetime,
    ) -> None:
        c.execute(
            self.insert_alert.values(
                id=new_id(),
                tenant_id=group[0],
                period=group[1],
                kind=kind,
                threshold=threshold,
                used_units=used,
                cap_units=cap,
                created_at=now,
                status="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )

    def _insert(self, c: Any, items: Sequence[MeterItem], now: datetime) -> None:
        """The prediction-log rows and the usage row of each accepted call (one statement each
        for the whole batch)."""
        if not items:
            return
        rows = [
            {
                "request_id": i.request_id,
                "tenant_id": i.tenant_id,
                "key_id": i.key_id,
                "scenario": i.scenario,
                "created_at": now,
                "compute_ms": None,  # unknown unless the server measured it
                **row,
            }
            for i in items
            for row in (*i.prediction_rows, *i.shadow_rows)
        ]
        if rows:
            c.execute(self.insert_predictions, rows)
        c.execute(
            self.insert_usage,
            [
                dict(
                    id=new_id(),
                    request_id=i.request_id,
                    tenant_id=i.tenant_id,
                    key_id=i.key_id,
                    scenario=i.scenario,
                    unit_type=i.unit_type,
                    units=i.units,
                    period=i.period,
                    created_at=now,
                    live=i.live,
                    model_version=i.model_version,
                )
                for i in items
            ],
        )
        c.execute(self.upsert_hourly, hourly_rows(items, now))
