"""Plans (immutable versions), tenants and their plan history, API keys, metering and usage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from modelmint.errors import Conflict, NotFound
from modelmint.store import tables as t
from modelmint.store.db import Database, as_utc, new_id, utcnow
from modelmint.store.repos.common import as_dict, as_dicts, idempotency_digest
from modelmint.store.repos.metering import MeteringTransaction, MeterRules
from modelmint.types import MeterItem, MeterOutcome


def key_by_hash_statement() -> Select[Any]:
    """The key with its tenant and plan, by key hash: the lookup of every authenticated
    call, built once (SQLAlchemy memoises a prebuilt statement's cache key)."""
    return (
        select(
            t.api_keys.c.id.label("key_id"),
            t.api_keys.c.key_hash,
            t.api_keys.c.revoked_at,
            t.api_keys.c.mode,
            t.api_keys.c.scenarios,
            t.api_keys.c.access,
            t.api_keys.c.expires_at,
            t.tenants.c.id.label("tenant_id"),
            t.tenants.c.name.label("tenant"),
            t.tenants.c.status.label("tenant_status"),
            t.tenants.c.plan_id,
            t.plans.c.name.label("plan"),
            t.plans.c.currency,
            t.plans.c.price_per_1k_micros,
            t.plans.c.monthly_quota,
            t.plans.c.rate_limit_rps,
            t.plans.c.burst,
            t.plans.c.tenant_rate_limit_rps,
            t.plans.c.max_concurrent,
            t.plans.c.budget_micros,
            t.plans.c.prices,
            t.plans.c.tiers,
            t.plans.c.tier_mode,
            t.plans.c.fee_micros,
            t.plans.c.included_units,
        )
        .join(t.tenants, t.tenants.c.id == t.api_keys.c.tenant_id)
        .join(t.plans, t.plans.c.id == t.tenants.c.plan_id)
        .where(t.api_keys.c.key_hash == bindparam("key_hash"))
    )


class BillingRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._key_by_hash = key_by_hash_statement()
        self._metering = MeteringTransaction(db.dialect)

    # plans -------------------------------------------------------------------------------
    def create_plan(self, **values: Any) -> dict[str, Any]:
        """A plan's first version, or (``values['version']`` > 1) its next one."""
        values["created_at"] = utcnow()
        try:
            with self.db.write() as c:
                pk = c.execute(insert(t.plans).values(**values)).inserted_primary_key
        except IntegrityError as exc:
            if values.get("version", 1) > 1:
                raise Conflict(
                    f"plan '{values['name']}' got version {values['version']} meanwhile; "
                    "run the update again"
                ) from exc
            raise Conflict(
                f"plan '{values['name']}' already exists; change it with `modelmint plans "
                f"update {values['name']} ...` (a new version), or pick another name"
            ) from exc
        assert pk is not None
        return self.plan_by_id(pk[0])

    def plan(self, name: str, version: int | None = None) -> dict[str, Any]:
        """A plan's latest version, or the version asked for."""
        q = select(t.plans).where(t.plans.c.name == name)
        q = q.where(t.plans.c.version == version) if version is not None else q
        with self.db.read() as c:
            row = as_dict(c.execute(q.order_by(t.plans.c.version.desc())).first())
        if row is None and version is not None:
            self.plan(name)  # NotFound for the name itself
            raise NotFound(
                f"plan '{name}' has no version {version}; see `modelmint plans show {name}`"
            )
        if row is None:
            raise NotFound(
                f"plan '{name}' does not exist; create it with `modelmint plans create {name} "
                "--price-per-1k 2.00` or see `modelmint plans list`"
            )
        return row

    def plan_by_id(self, plan_id: int) -> dict[str, Any]:
        with self.db.read() as c:
            row = as_dict(c.execute(select(t.plans).where(t.plans.c.id == plan_id)).first())
        if row is None:
            raise NotFound(f"plan #{plan_id} does not exist")
        return row

    def plans(self, name: str | None = None, *, latest: bool = False) -> list[dict[str, Any]]:
        """Every version (of one plan), or with ``latest`` each plan's newest version only."""
        q = select(t.plans).order_by(t.plans.c.id)
        if name is not None:
            q = q.where(t.plans.c.name == name)
        if latest:
            newest = (
                select(t.plans.c.name, func.max(t.plans.c.version).label("v"))
                .group_by(t.plans.c.name)
                .subquery()
            )
            q = q.join(
                newest, and_(newest.c.name == t.plans.c.name, newest.c.v == t.plans.c.version)
            )
        with self.db.read() as c:
            return as_dicts(c.execute(q))

    def tenants_on(self, plan_ids: Sequence[int]) -> list[dict[str, Any]]:
        with self.db.read() as c:
            return as_dicts(
                c.execute(
                    select(t.tenants)
                    .where(t.tenants.c.plan_id.in_(plan_ids))
                    .order_by(t.tenants.c.name)
                )
            )

    # tenants -----------------------------------------------------------------------------
    def create_tenant(self, name: str, plan_id: int, status: str, **contact: Any) -> dict[str, Any]:
        """The tenant and the first row of its plan history, in one transaction."""
        now = utcnow()
        values = dict(name=name, plan_id=plan_id, status=status, created_at=now, **contact)
        try:
            with self.db.write() as c:
                pk = c.execute(insert(t.tenants).values(**values)).inserted_primary_key
                assert pk is not None
                c.execute(
                    insert(t.tenant_plans).values(tenant_id=pk[0], plan_id=plan_id, starts_at=now)
                )
        except IntegrityError as exc:
            raise Conflict(f"tenant '{name}' already exists; see `modelmint tenants list`") from exc
        return {"id": pk[0], **values}

    def change_plan(self, tenant_id: int, plan_id: int, at: datetime) -> None:
        """Move a tenant to a plan version from `at` on (its history keeps the old one)."""
        with self.db.write() as c:
            c.execute(update(t.tenants).where(t.tenants.c.id == tenant_id).values(plan_id=plan_id))
            c.execute(
                insert(t.tenant_plans).values(tenant_id=tenant_id, plan_id=plan_id, starts_at=at)
            )

    def plan_history(self, tenant_id: int) -> list[dict[str, Any]]:
        """(plan_id, starts_at) rows, oldest first."""
        with self.db.read() as c:
            rows = as_dicts(
                c.execute(
                    select(t.tenant_plans.c.plan_id, t.tenant_plans.c.starts_at)
                    .where(t.tenant_plans.c.tenant_id == tenant_id)
                    .order_by(t.tenant_plans.c.starts_at, t.tenant_plans.c.id)
                )
            )
        return [{**r, "starts_at": as_utc(r["starts_at"])} for r in rows]

    def tenant(self, name: str) -> dict[str, Any]:
        with self.db.read() as c:
            row = as_dict(c.execute(select(t.tenants).where(t.tenants.c.name == name)).first())
        if row is None:
            raise NotFound(
                f"tenant '{name}' does not exist; create it with `modelmint tenants create "
                f"{name} --plan PLAN` or see `modelmint tenants list`"
            )
        row["trial_ends_at"] = as_utc(row["trial_ends_at"])
        row["created_at"] = as_utc(row["created_at"])
        return row

    def tenant_name(self, tenant_id: int) -> str:
        with self.db.read() as c:
            name = c.execute(select(t.tenants.c.name).where(t.tenants.c.id == tenant_id)).scalar()
        if name is None:
            raise NotFound(f"no tenant with id {tenant_id}; see `modelmint tenants list`")
        return str(name)

    def set_tenant_status(self, name: str, status: str) -> dict[str, Any]:
        """Audit-free status change (suspension takes effect on the next request). Activating
        a tenant in trial ends the trial now: usage from here on is billed."""
        now = utcnow()
        values: dict[str, Any] = {"status": status}
        if status == "active":
            values["trial_ends_at"] = case(
                (t.tenants.c.trial_ends_at > now, now), else_=t.tenants.c.trial_ends_at
            )
        with self.db.write() as c:
            res = c.execute(update(t.tenants).where(t.tenants.c.name == name).values(**values))
        if res.rowcount != 1:
            self.tenant(name)  # NotFound with the fix
        return self.tenant(name)

    def end_trials(self, now: datetime | None = None) -> list[str]:
        """Trials whose end has passed become active (the worker runs this); their names."""
        now = now or utcnow()
        due = and_(t.tenants.c.status == "trial", t.tenants.c.trial_ends_at <= now)
        with self.db.write() as c:
            names = [r[0] for r in c.execute(select(t.tenants.c.name).where(due))]
            if names:
                c.execute(update(t.tenants).where(due).values(status="active"))
        return names

    def tenants(self) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = (
                select(
                    t.tenants,
                    t.plans.c.name.label("plan"),
                    t.plans.c.version.label("plan_version"),
                )
                .join(t.plans, t.plans.c.id == t.tenants.c.plan_id)
                .order_by(t.tenants.c.id)
            )
            rows = as_dicts(c.execute(q))
        for r in rows:
            r["trial_ends_at"] = as_utc(r["trial_ends_at"])
            r["created_at"] = as_utc(r["created_at"])
        return rows

    def replace_webhook_secret(self, tenant_id: int, old: str, new: str) -> int:
        """Store `new` as the tenant's (sealed) webhook secret if the stored one is still `old`
        (compare-and-set: two processes sealing the same secret cannot clash); rows changed."""
        q = (
            update(t.tenants)
            .where(t.tenants.c.id == tenant_id, t.tenants.c.webhook_secret == old)
            .values(webhook_secret=new)
        )
        with self.db.write() as c:
            return int(c.execute(q).rowcount)

    # keys --------------------------------------------------------------------------------
    def create_key(
        self,
        tenant_id: int,
        prefix: str,
        key_hash: str,
        name: str | None,
        *,
        mode: str = "live",
        scenarios: list[str] | None = None,
        access: str = "write",
        expires_at: datetime | None = None,
        expire_old: tuple[str, datetime] | None = None,
    ) -> dict:
        """Insert a key; with ``expire_old`` (key id, when), in the same transaction bring that
        key's expiry forward to `when` (rotation with an overlap)."""
        values = dict(
            id=new_id(),
            tenant_id=tenant_id,
            prefix=prefix,
            key_hash=key_hash,
            name=name,
            created_at=utcnow(),
            revoked_at=None,
            mode=mode,
            scenarios=scenarios,
            access=access,
            expires_at=expires_at,
        )
        with self.db.write() as c:
            c.execute(insert(t.api_keys).values(**values))
            if expire_old is not None:
                old_id, when = expire_old
                c.execute(
                    update(t.api_keys)
                    .where(
                        t.api_keys.c.id == old_id,
                        or_(t.api_keys.c.expires_at.is_(None), t.api_keys.c.expires_at > when),
                    )
                    .values(expires_at=when)
                )
        return values

    def key(self, key_id: str) -> dict[str, Any]:
        with self.db.read() as c:
            row = as_dict(c.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first())
        if row is None:
            raise NotFound(f"API key '{key_id}' does not exist; see `modelmint keys list`")
        row["expires_at"] = as_utc(row["expires_at"])
        return row

    def keys(self, tenant_id: int | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = (
                select(
                    t.api_keys.c.id,
                    t.api_keys.c.prefix,
                    t.api_keys.c.name,
                    t.api_keys.c.created_at,
                    t.api_keys.c.revoked_at,
                    t.api_keys.c.mode,
                    t.api_keys.c.scenarios,
                    t.api_keys.c.access,
                    t.api_keys.c.expires_at,
                    t.tenants.c.name.label("tenant"),
                )
                .join(t.tenants, t.tenants.c.id == t.api_keys.c.tenant_id)
                .order_by(t.api_keys.c.created_at)
            )
            if tenant_id is not None:
                q = q.where(t.api_keys.c.tenant_id == tenant_id)
            rows = as_dicts(c.execute(q))
        for r in rows:
            r["expires_at"] = as_utc(r["expires_at"])
        return rows

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        with self.db.write() as c:
            row = as_dict(c.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first())
            if row is None:
                raise NotFound(f"API key '{key_id}' does not exist; see `modelmint keys list`")
            row["revoked_now"] = row["revoked_at"] is None
            if row["revoked_at"] is None:
                row["revoked_at"] = utcnow()
                c.execute(
                    update(t.api_keys)
                    .where(t.api_keys.c.id == key_id)
                    .values(revoked_at=row["revoked_at"])
                )
            return row

    def key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        """The key with its tenant and plan, or None."""
        with self.db.read() as c:
            row = as_dict(c.execute(self._key_by_hash, {"key_hash": key_hash}).first())
        if row is not None:
            row["expires_at"] = as_utc(row["expires_at"])
        return row

    # metering ----------------------------------------------------------------------------
    def record_requests(self, items: Sequence[MeterItem], rules: MeterRules) -> list[MeterOutcome]:
        """Meter a batch of calls in ONE transaction (group commit), each exactly as if alone,
        in order: `MeterOutcome.OK` (its prediction-log rows and usage row written), or why
        nothing of it was written.

        Live calls take their units from the tenant's period counter, read under a row lock (an
        upsert in PostgreSQL; SQLite's write lock) and written once per tenant; test traffic
        (``live=False``) is recorded apart: no quota, never billed. ``rules`` decide each call
        with what was read under the locks (`modelmint.billing.rules.RULES`: the cached key
        re-checked when ``plan_id`` is set, then the quota) and name the alert levels it
        crosses, whose rows are written here, so each alert fires exactly once whatever the
        number of server processes. An accepted call's ``idempotency`` = (key, request hash,
        response JSON) is inserted if absent; present means `MeterOutcome.CONFLICT`."""
        now = utcnow()
        with self.db.write() as c:
            return self._metering.run(c, items, rules, now)

    def record_request(self, item: MeterItem, rules: MeterRules) -> MeterOutcome:
        """Meter one call in its own transaction (see `record_requests`): its outcome."""
        [outcome] = self.record_requests([item], rules)
        return outcome

    def usage_by_day(self, period: str, tenant_id: int) -> list[dict[str, Any]]:
        """Live units and requests per UTC day, scenario and unit type in a period."""
        day = func.date(t.usage.c.created_at).label("day")
        with self.db.read() as c:
            q = (
                select(
                    day,
                    t.usage.c.scenario,
                    t.usage.c.unit_type,
                    func.sum(t.usage.c.units).label("units"),
                    func.count().label("requests"),
                )
                .where(
                    t.usage.c.period == period,
                    t.usage.c.tenant_id == tenant_id,
                    t.usage.c.live.is_(True),
                )
                .group_by(day, t.usage.c.scenario, t.usage.c.unit_type)
                .order_by(day, t.usage.c.scenario, t.usage.c.unit_type)
            )
            return [
                {
                    **r,
                    "day": str(r["day"]),
                    "units": int(r["units"]),
                    "requests": int(r["requests"]),
                }
                for r in as_dicts(c.execute(q))
            ]

    def idempotent_response(self, tenant_id: int, key: str) -> dict[str, Any] | None:
        """The stored first response for a raw Idempotency-Key (looked up by its digest)."""
        with self.db.read() as c:
            return as_dict(
                c.execute(
                    select(t.idempotency_keys).where(
                        t.idempotency_keys.c.tenant_id == tenant_id,
                        t.idempotency_keys.c.key == idempotency_digest(key),
                    )
                ).first()
            )

    def units_used(self, tenant_id: int, period: str) -> int:
        with self.db.read() as c:
            v = c.execute(
                select(t.quota_counters.c.units).where(
                    t.quota_counters.c.tenant_id == tenant_id, t.quota_counters.c.period == period
                )
            ).scalar()
        return int(v or 0)

    def usage_by_scenario(
        self,
        period: str,
        tenant_id: int | None = None,
        *,
        live: bool = True,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[dict]:
        """Units and requests per tenant, scenario and unit type in a period, from usage rows
        (live traffic, or with ``live=False`` the test keys' traffic); ``start`` <= created_at
        < ``end`` when given (one plan segment of an invoice)."""
        since = t.usage.c.created_at >= start if start is not None else true()
        until = t.usage.c.created_at < end if end is not None else true()
        with self.db.read() as c:
            q = (
                select(
                    t.usage.c.tenant_id,
                    t.tenants.c.name.label("tenant"),
                    t.usage.c.scenario,
                    t.usage.c.unit_type,
                    func.sum(t.usage.c.units).label("units"),
                    func.count().label("requests"),
                )
                .join(t.tenants, t.tenants.c.id == t.usage.c.tenant_id)
                .where(t.usage.c.period == period, t.usage.c.live.is_(live), since, until)
                .group_by(
                    t.usage.c.tenant_id, t.tenants.c.name, t.usage.c.scenario, t.usage.c.unit_type
                )
                .order_by(t.tenants.c.name, t.usage.c.scenario, t.usage.c.unit_type)
            )
            if tenant_id is not None:
                q = q.where(t.usage.c.tenant_id == tenant_id)
            return [
                {**r, "units": int(r["units"]), "requests": int(r["requests"])}
                for r in as_dicts(c.execute(q))
            ]
