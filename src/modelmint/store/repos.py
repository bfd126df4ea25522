"""Repositories: the only functions that read and write tables. They take and return plain
dicts and values, so no stage ever touches SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError

from modelmint.errors import Conflict, NotFound
from modelmint.store import tables as t
from modelmint.store.db import Database, as_utc, new_id, utcnow


def _upsert(dialect: str, table: Any) -> Any:
    """The dialect's INSERT that supports ON CONFLICT (PostgreSQL, SQLite)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _insert_ignore(dialect: str, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the dialect in use."""
    return _upsert(dialect, table).on_conflict_do_nothing()


def _metering_statements(dialect: str) -> SimpleNamespace:
    """The metering transaction's statements, built once: SQLAlchemy memoises a statement's
    cache key, so executing a prebuilt statement skips building and keying it per call."""
    key = (
        select(
            t.api_keys.c.id,
            t.api_keys.c.revoked_at,
            t.api_keys.c.expires_at,
            t.tenants.c.status,
            t.tenants.c.plan_id,
        )
    ).join(t.tenants, t.tenants.c.id == t.api_keys.c.tenant_id)
    counter = _upsert(dialect, t.quota_counters).values(
        tenant_id=bindparam("tenant_id"), period=bindparam("period"), units=0
    )
    return SimpleNamespace(
        key_one=key.where(t.api_keys.c.id == bindparam("key_id")),
        key_many=key.where(t.api_keys.c.id.in_(bindparam("key_ids", expanding=True))),
        lock_counter=counter.on_conflict_do_update(
            index_elements=["tenant_id", "period"], set_={"units": t.quota_counters.c.units}
        ).returning(t.quota_counters.c.units),
        set_counter=update(t.quota_counters)
        .where(
            t.quota_counters.c.tenant_id == bindparam("b_tenant"),
            t.quota_counters.c.period == bindparam("b_period"),
        )
        .values(units=bindparam("b_units")),
        claim_idempotency=_insert_ignore(dialect, t.idempotency_keys).returning(
            t.idempotency_keys.c.key
        ),
        key_by_hash=(
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
        ),
        insert_predictions=insert(t.predictions),
        insert_usage=insert(t.usage),
    )


def _key_state(key: dict[str, Any] | None, plan_id: int, now: datetime) -> str:
    """A cached caller's key as the metering transaction sees it."""
    if key is None or key["revoked_at"] is not None:
        return "revoked"
    if key["expires_at"] is not None and as_utc(key["expires_at"]) <= now:
        return "expired"
    if key["status"] == "suspended":
        return "suspended"
    return "ok" if key["plan_id"] == plan_id else "stale"


def _row(r: Row[Any] | None) -> dict[str, Any] | None:
    if r is None:
        return None
    d = dict(r._mapping)
    for k, v in d.items():
        if isinstance(v, datetime):
            d[k] = as_utc(v)
    return d


def _rows(rs: Iterable[Row[Any]]) -> list[dict[str, Any]]:
    return [d for d in (_row(r) for r in rs) if d is not None]


class DatasetRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def find_by_hash(self, name: str, content_hash: str) -> dict[str, Any] | None:
        with self.db.read() as c:
            q = select(t.datasets).where(
                t.datasets.c.name == name, t.datasets.c.content_hash == content_hash
            )
            return _row(c.execute(q).first())

    def create(self, *, name: str, content_hash: str, **fields: Any) -> dict[str, Any]:
        """Insert the next version of `name`. Returns the stored row."""
        with self.db.write() as c:
            top = c.execute(
                select(func.max(t.datasets.c.version)).where(t.datasets.c.name == name)
            ).scalar()
            version = (top or 0) + 1
            values = dict(
                name=name, version=version, content_hash=content_hash, created_at=utcnow(), **fields
            )
            try:
                pk = c.execute(insert(t.datasets).values(**values)).inserted_primary_key
            except IntegrityError as exc:
                raise Conflict(
                    f"another version of dataset '{name}' was stored at the same moment; run "
                    "the command again"
                ) from exc
            assert pk is not None
            return {"id": pk[0], **values}

    def get(self, name: str, version: int | None = None) -> dict[str, Any]:
        with self.db.read() as c:
            q = select(t.datasets).where(t.datasets.c.name == name)
            if version is None:
                q = q.order_by(t.datasets.c.version.desc()).limit(1)
            else:
                q = q.where(t.datasets.c.version == version)
            row = _row(c.execute(q).first())
        if row is None:
            what = f"dataset '{name}'" if version is None else f"dataset '{name}:{version}'"
            raise NotFound(f"{what} does not exist; see `modelmint data list` for what there is")
        return row

    def get_by_id(self, dataset_id: int) -> dict[str, Any]:
        with self.db.read() as c:
            row = _row(c.execute(select(t.datasets).where(t.datasets.c.id == dataset_id)).first())
        if row is None:
            raise NotFound(f"dataset id {dataset_id} does not exist")
        return row

    def list(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = select(t.datasets).order_by(t.datasets.c.name, t.datasets.c.version)
            if name:
                q = q.where(t.datasets.c.name == name)
            return _rows(c.execute(q))


class ModelRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def next_version(self, name: str) -> int:
        with self.db.read() as c:
            top = c.execute(
                select(func.max(t.models.c.version)).where(t.models.c.name == name)
            ).scalar()
        return (top or 0) + 1

    def create(self, *, name: str, version: int, **fields: Any) -> dict[str, Any]:
        values = dict(name=name, version=version, created_at=utcnow(), **fields)
        try:
            with self.db.write() as c:
                pk = c.execute(insert(t.models).values(**values)).inserted_primary_key
        except IntegrityError as exc:
            raise Conflict(
                f"model {name}:{version} was registered by someone else at the same time; "
                "run the command again"
            ) from exc
        assert pk is not None
        return {"id": pk[0], **values}

    def get(self, name: str, version: int) -> dict[str, Any]:
        with self.db.read() as c:
            row = _row(
                c.execute(
                    select(t.models).where(t.models.c.name == name, t.models.c.version == version)
                ).first()
            )
        if row is None:
            raise NotFound(
                f"model '{name}:{version}' does not exist; see `modelmint models list {name}`"
            )
        return row

    def list(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = select(t.models).order_by(t.models.c.name, t.models.c.version)
            if name:
                q = q.where(t.models.c.name == name)
            return _rows(c.execute(q))

    def aliases(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = select(t.model_aliases)
            if name:
                q = q.where(t.model_aliases.c.name == name)
            return _rows(c.execute(q))

    def resolve_alias(self, name: str, alias: str) -> int | None:
        with self.db.read() as c:
            return c.execute(
                select(t.model_aliases.c.version).where(
                    t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                )
            ).scalar()

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        action: str,
        actor: str,
        reason: str,
        expect_current: int | str | None = "any",
    ) -> int | None:
        """Point `name@alias` at `version` in one transaction, with an audit event.

        ``expect_current`` makes it a compare-and-set: when two promotions race, the loser gets
        Conflict instead of silently overwriting. Returns the previous version."""
        try:
            return self._set_alias(name, alias, version, action, actor, reason, expect_current)
        except IntegrityError as exc:  # two first-ever promotions raced to insert the row
            raise Conflict(
                f"{name}@{alias} was set by someone else at the same moment; look at "
                f"`modelmint models show {name}:{alias}` and retry"
            ) from exc

    def _set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        action: str,
        actor: str,
        reason: str,
        expect_current: int | str | None,
    ) -> int | None:
        with self.db.write() as c:
            # FOR UPDATE: on PostgreSQL a concurrent promotion waits here, then sees our result
            current = c.execute(
                select(t.model_aliases.c.version)
                .where(t.model_aliases.c.name == name, t.model_aliases.c.alias == alias)
                .with_for_update()
            ).scalar()
            if expect_current != "any" and current != expect_current:
                raise Conflict(
                    f"{name}@{alias} changed to version {current} while this {action} ran "
                    f"(expected {expect_current}); look at `modelmint models show {name}` and retry"
                )
            now = utcnow()
            if current is None:
                c.execute(
                    insert(t.model_aliases).values(
                        name=name, alias=alias, version=version, updated_at=now
                    )
                )
            else:
                c.execute(
                    update(t.model_aliases)
                    .where(t.model_aliases.c.name == name, t.model_aliases.c.alias == alias)
                    .values(version=version, updated_at=now)
                )
            c.execute(
                insert(t.model_events).values(
                    name=name,
                    alias=alias,
                    action=action,
                    from_version=current,
                    to_version=version,
                    actor=actor,
                    reason=reason,
                    created_at=now,
                )
            )
            return current

    def events(self, name: str) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = (
                select(t.model_events)
                .where(t.model_events.c.name == name)
                .order_by(t.model_events.c.id)
            )
            return _rows(c.execute(q))


class BillingRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._sql = _metering_statements(db.dialect)

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
            row = _row(c.execute(q.order_by(t.plans.c.version.desc())).first())
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
            row = _row(c.execute(select(t.plans).where(t.plans.c.id == plan_id)).first())
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
            return _rows(c.execute(q))

    def tenants_on(self, plan_ids: Sequence[int]) -> list[dict[str, Any]]:
        with self.db.read() as c:
            return _rows(
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
            rows = _rows(
                c.execute(
                    select(t.tenant_plans.c.plan_id, t.tenant_plans.c.starts_at)
                    .where(t.tenant_plans.c.tenant_id == tenant_id)
                    .order_by(t.tenant_plans.c.starts_at, t.tenant_plans.c.id)
                )
            )
        return [{**r, "starts_at": as_utc(r["starts_at"])} for r in rows]

    def tenant(self, name: str) -> dict[str, Any]:
        with self.db.read() as c:
            row = _row(c.execute(select(t.tenants).where(t.tenants.c.name == name)).first())
        if row is None:
            raise NotFound(
                f"tenant '{name}' does not exist; create it with `modelmint tenants create "
                f"{name} --plan PLAN` or see `modelmint tenants list`"
            )
        row["trial_ends_at"] = as_utc(row["trial_ends_at"])
        row["created_at"] = as_utc(row["created_at"])
        return row

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
            rows = _rows(c.execute(q))
        for r in rows:
            r["trial_ends_at"] = as_utc(r["trial_ends_at"])
            r["created_at"] = as_utc(r["created_at"])
        return rows

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
            row = _row(c.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first())
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
            rows = _rows(c.execute(q))
        for r in rows:
            r["expires_at"] = as_utc(r["expires_at"])
        return rows

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        with self.db.write() as c:
            row = _row(c.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first())
            if row is None:
                raise NotFound(f"API key '{key_id}' does not exist; see `modelmint keys list`")
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
            row = _row(c.execute(self._sql.key_by_hash, {"key_hash": key_hash}).first())
        if row is not None:
            row["expires_at"] = as_utc(row["expires_at"])
        return row

    # metering ----------------------------------------------------------------------------
    def record_request(
        self,
        *,
        request_id: str,
        tenant_id: int,
        key_id: str,
        scenario: str,
        period: str,
        quota: int | None,
        prediction_rows: Sequence[dict[str, Any]],
        unit_type: str = "predict",
        live: bool = True,
        idempotency: tuple[str, str, str] | None = None,
        alert_levels: Sequence[tuple[str, int, int, int]] = (),
    ) -> bool:
        """Meter one request in its own transaction (see `record_requests`): True when
        recorded, False (nothing written) when over quota; Conflict when its idempotency key
        was stored meanwhile (the caller replays the stored response)."""
        [outcome] = self.record_requests(
            [
                dict(
                    request_id=request_id,
                    tenant_id=tenant_id,
                    key_id=key_id,
                    scenario=scenario,
                    period=period,
                    quota=quota,
                    prediction_rows=prediction_rows,
                    unit_type=unit_type,
                    live=live,
                    idempotency=idempotency,
                    alert_levels=alert_levels,
                )
            ]
        )
        if outcome == "conflict":
            assert idempotency is not None
            raise Conflict(f"idempotency key '{idempotency[0]}' was used meanwhile")
        return outcome == "ok"

    def record_requests(self, batch: Sequence[dict[str, Any]]) -> list[str]:
        """Meter a batch of requests in ONE transaction (group commit), each exactly as if
        alone, in order: "ok" (its prediction-log rows and usage row written), "over_quota" or
        "conflict" (nothing of it written).

        Each item has the keywords of `record_request`. Live traffic takes its units from the
        tenant's period counter, read under a row lock (an upsert in PostgreSQL; SQLite's write
        lock), and a request that would cross its ``quota`` is refused whole; the
        counter is written once per tenant. Test traffic (``live=False``) is recorded apart: no
        quota, never billed. ``idempotency`` = (key, request hash, response JSON) is inserted
        if absent; present means "conflict". ``alert_levels`` = (kind, threshold %, level,
        cap): a level a request crosses gets its alert row, so each fires exactly once whatever
        the number of server processes.

        ``plan_id``, when given, says the caller was authenticated from a cache holding that
        plan: the key is checked again here, inside the transaction, and a key revoked, expired
        or suspended since gives "revoked", "expired" or "suspended", and a plan changed since
        gives "stale" (nothing of the request written in each case)."""
        now = utcnow()
        outcomes: list[str] = []
        with self.db.write() as c:
            keys = self._key_states(c, {r["key_id"] for r in batch if r.get("plan_id") is not None})
            # lock the counters in one order, so concurrent batches cannot deadlock
            groups = sorted({(r["tenant_id"], r["period"]) for r in batch if r.get("live", True)})
            before = {g: self._lock_counter(c, *g) for g in groups}
            used = dict(before)
            ok: list[dict[str, Any]] = []
            for r in batch:
                units = len(r["prediction_rows"])
                live = r.get("live", True)
                group = (r["tenant_id"], r["period"])
                if r.get("plan_id") is not None:
                    state = _key_state(keys.get(r["key_id"]), r["plan_id"], now)
                    if state != "ok":
                        outcomes.append(state)
                        continue
                quota = r.get("quota")
                if live and quota is not None and used[group] + units > quota:
                    outcomes.append("over_quota")
                    continue
                idem = r.get("idempotency")
                if idem is not None and not self._claim_idempotency(c, r["tenant_id"], idem, now):
                    outcomes.append("conflict")
                    continue
                if live:
                    after = used[group] + units
                    for kind, threshold, level, cap in r.get("alert_levels") or ():
                        if used[group] < level <= after:
                            self._alert(c, group, kind, threshold, after, cap, now)
                    used[group] = after
                outcomes.append("ok")
                ok.append(r)
            for (tenant_id, period), units in used.items():
                if units != before[(tenant_id, period)]:
                    c.execute(
                        self._sql.set_counter,
                        {"b_tenant": tenant_id, "b_period": period, "b_units": units},
                    )
            self._insert_requests(c, ok, now)
        return outcomes

    def _key_states(self, c: Any, key_ids: set[str]) -> dict[str, dict[str, Any]]:
        if not key_ids:
            return {}
        if len(key_ids) == 1:  # most batches: no expanding IN
            rows = c.execute(self._sql.key_one, {"key_id": next(iter(key_ids))})
        else:
            rows = c.execute(self._sql.key_many, {"key_ids": sorted(key_ids)})
        return {r["id"]: r for r in _rows(rows)}

    def _lock_counter(self, c: Any, tenant_id: int, period: str) -> int:
        """The period's counter (created if absent), locked until the transaction ends: one
        upsert whose no-op update takes the row lock (PostgreSQL) inside SQLite's write lock."""
        return int(
            c.execute(
                self._sql.lock_counter, {"tenant_id": tenant_id, "period": period}
            ).scalar_one()
        )

    def _claim_idempotency(
        self, c: Any, tenant_id: int, idem: tuple[str, str, str], now: datetime
    ) -> bool:
        key, digest, response = idem
        values = dict(
            tenant_id=tenant_id, key=key, request_hash=digest, response=response, created_at=now
        )
        # a row comes back only when inserted (rowcount is -1 with psycopg's RETURNING)
        return c.execute(self._sql.claim_idempotency, values).first() is not None

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
            _insert_ignore(self.db.dialect, t.alerts).values(
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

    def _insert_requests(self, c: Any, batch: Sequence[dict[str, Any]], now: datetime) -> None:
        """The prediction-log rows and the usage row of each request (one statement each for
        the whole batch)."""
        if not batch:
            return
        rows = [row for r in batch for row in r["prediction_rows"]]
        if rows:
            c.execute(
                self._sql.insert_predictions,
                [
                    dict(
                        request_id=r["request_id"],
                        tenant_id=r["tenant_id"],
                        key_id=r["key_id"],
                        scenario=r["scenario"],
                        created_at=now,
                        **row,
                    )
                    for r in batch
                    for row in r["prediction_rows"]
                ],
            )
        c.execute(
            self._sql.insert_usage,
            [
                dict(
                    id=new_id(),
                    request_id=r["request_id"],
                    tenant_id=r["tenant_id"],
                    key_id=r["key_id"],
                    scenario=r["scenario"],
                    unit_type=r.get("unit_type", "predict"),
                    units=len(r["prediction_rows"]),
                    period=r["period"],
                    created_at=now,
                    live=r.get("live", True),
                )
                for r in batch
            ],
        )

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
                for r in _rows(c.execute(q))
            ]

    def idempotent_response(self, tenant_id: int, key: str) -> dict[str, Any] | None:
        with self.db.read() as c:
            return _row(
                c.execute(
                    select(t.idempotency_keys).where(
                        t.idempotency_keys.c.tenant_id == tenant_id,
                        t.idempotency_keys.c.key == key,
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
                for r in _rows(c.execute(q))
            ]


class AlertRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, tenant_id: int | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = (
                select(t.alerts, t.tenants.c.name.label("tenant"))
                .join(t.tenants, t.tenants.c.id == t.alerts.c.tenant_id)
                .order_by(t.alerts.c.created_at, t.alerts.c.threshold)
            )
            if tenant_id is not None:
                q = q.where(t.alerts.c.tenant_id == tenant_id)
            return [self._out(r) for r in _rows(c.execute(q))]

    def due(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = (
                select(
                    t.alerts,
                    t.tenants.c.name.label("tenant"),
                    t.tenants.c.webhook_url,
                    t.tenants.c.webhook_secret,
                )
                .join(t.tenants, t.tenants.c.id == t.alerts.c.tenant_id)
                .where(t.alerts.c.status == "pending", t.alerts.c.next_attempt_at <= now)
                .order_by(t.alerts.c.created_at)
                .limit(limit)
            )
            return [self._out(r) for r in _rows(c.execute(q))]

    def mark(self, alert_id: str, **values: Any) -> None:
        with self.db.write() as c:
            c.execute(update(t.alerts).where(t.alerts.c.id == alert_id).values(**values))

    @staticmethod
    def _out(row: dict[str, Any]) -> dict[str, Any]:
        for k in ("created_at", "next_attempt_at"):
            row[k] = as_utc(row[k])
        return row


class InvoiceRepo:
    """Invoices and credit notes: inserted once, never updated."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def issue(self, values: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert; if its dedupe key exists (the period was closed already), return that one.
        Returns (invoice, created). Two closes racing on PostgreSQL: the loser's insert hits a
        unique key, and it returns the winner's invoice (or, for a number clash, tries again)."""
        for _ in range(3):
            try:
                with self.db.write() as c:
                    found = self._by_dedupe(c, values["dedupe"])
                    if found is not None:
                        return found, False
                    n = c.execute(select(func.count()).select_from(t.invoices)).scalar() or 0
                    row = {**values, "number": values["number"].format(seq=int(n) + 1)}
                    c.execute(insert(t.invoices).values(**row))
                return self._out(row), True
            except IntegrityError:
                with self.db.read() as c:
                    found = self._by_dedupe(c, values["dedupe"])
                if found is not None:
                    return found, False
        raise Conflict("another process is issuing invoices at the same moment; run it again")

    def _by_dedupe(self, c: Any, dedupe: str) -> dict[str, Any] | None:
        row = _row(c.execute(select(t.invoices).where(t.invoices.c.dedupe == dedupe)).first())
        return None if row is None else self._out(row)

    def get(self, number: str) -> dict[str, Any]:
        with self.db.read() as c:
            row = _row(c.execute(select(t.invoices).where(t.invoices.c.number == number)).first())
        if row is None:
            raise NotFound(f"invoice '{number}' does not exist; see `modelmint invoices list`")
        return self._out(row)

    def list(self, tenant_id: int | None = None, period: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = select(t.invoices).order_by(t.invoices.c.issued_at, t.invoices.c.number)
            if tenant_id is not None:
                q = q.where(t.invoices.c.tenant_id == tenant_id)
            if period is not None:
                q = q.where(t.invoices.c.period == period)
            return [self._out(r) for r in _rows(c.execute(q))]

    @staticmethod
    def _out(row: dict[str, Any]) -> dict[str, Any]:
        row["issued_at"] = as_utc(row["issued_at"])
        return row


class LimitRepo:
    """Token buckets and calls in flight, for the database rate-limit backend. Each call is one
    write transaction; the bucket's row is locked (PostgreSQL) or the database is (SQLite)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _locked_bucket(self, c: Any, bucket: str, tokens: float, now: float) -> tuple[float, float]:
        c.execute(
            _insert_ignore(self.db.dialect, t.rate_buckets).values(
                bucket=bucket, tokens=tokens, at=now
            )
        )
        row = c.execute(
            select(t.rate_buckets.c.tokens, t.rate_buckets.c.at)
            .where(t.rate_buckets.c.bucket == bucket)
            .with_for_update()
        ).first()
        assert row is not None
        return float(row[0]), float(row[1])

    def take(self, bucket: str, rate: float, cap: float, now: float) -> float:
        with self.db.write() as c:
            tokens, at = self._locked_bucket(c, bucket, cap, now)
            tokens = min(cap, tokens + max(0.0, now - at) * rate)
            wait = (1.0 - tokens) / rate if tokens < 1.0 else 0.0
            c.execute(
                update(t.rate_buckets)
                .where(t.rate_buckets.c.bucket == bucket)
                .values(tokens=tokens if wait else tokens - 1.0, at=now)
            )
        return wait

    def enter(self, bucket: str, lease: str, limit: int, now: float, expires: float) -> bool:
        with self.db.write() as c:
            self._locked_bucket(c, "inflight:" + bucket, 0.0, now)  # the tenant's mutex
            c.execute(
                delete(t.inflight).where(t.inflight.c.bucket == bucket, t.inflight.c.expires <= now)
            )
            n = c.execute(
                select(func.count()).select_from(t.inflight).where(t.inflight.c.bucket == bucket)
            ).scalar()
            if int(n or 0) >= limit:
                return False
            c.execute(insert(t.inflight).values(lease=lease, bucket=bucket, expires=expires))
        return True

    def leave(self, lease: str) -> None:
        with self.db.write() as c:
            c.execute(delete(t.inflight).where(t.inflight.c.lease == lease))


class FeedbackRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def prediction(self, prediction_id: str, tenant_id: int) -> dict[str, Any]:
        with self.db.read() as c:
            row = _row(
                c.execute(
                    select(t.predictions).where(
                        t.predictions.c.id == prediction_id,
                        t.predictions.c.tenant_id == tenant_id,
                    )
                ).first()
            )
        if row is None:
            # the same answer for "absent" and "another tenant's": no existence oracle
            raise NotFound(
                f"prediction '{prediction_id}' not found; use an id returned by your own "
                "predict call"
            )
        return row

    def add_feedback(self, prediction_id: str, tenant_id: int, label: str) -> dict[str, Any]:
        values = dict(
            id=new_id(),
            prediction_id=prediction_id,
            tenant_id=tenant_id,
            label=label,
            created_at=utcnow(),
        )
        with self.db.write() as c:
            c.execute(insert(t.feedback).values(**values))
        return values

    def add_outcome(
        self, prediction_id: str, tenant_id: int, event: str, value: float | None
    ) -> dict[str, Any]:
        values = dict(
            id=new_id(),
            prediction_id=prediction_id,
            tenant_id=tenant_id,
            event=event,
            value=value,
            created_at=utcnow(),
        )
        with self.db.write() as c:
            c.execute(insert(t.outcomes).values(**values))
        return values

    def labelled(self, scenario: str) -> list[dict[str, Any]]:
        """Each prediction of `scenario` that has feedback, with its latest feedback label."""
        with self.db.read() as c:
            latest = (
                select(t.feedback.c.prediction_id, func.max(t.feedback.c.id).label("fid"))
                .group_by(t.feedback.c.prediction_id)
                .subquery()
            )
            q = (
                select(
                    t.predictions.c.id.label("prediction_id"),
                    t.predictions.c.input_text.label("text"),
                    t.predictions.c.label.label("predicted"),
                    t.predictions.c.model_version,
                    t.feedback.c.label,
                )
                .join(latest, latest.c.prediction_id == t.predictions.c.id)
                .join(t.feedback, t.feedback.c.id == latest.c.fid)
                .where(t.predictions.c.scenario == scenario)
                .order_by(t.predictions.c.id)
            )
            return _rows(c.execute(q))

    def counts(self, scenario: str | None = None) -> dict[str, Any]:
        with self.db.read() as c:

            def n(table: Any) -> int:
                q = select(func.count()).select_from(table)
                if scenario is not None:
                    q = q.join(t.predictions, t.predictions.c.id == table.c.prediction_id).where(
                        t.predictions.c.scenario == scenario
                    )
                return int(c.execute(q).scalar() or 0)

            preds = select(func.count()).select_from(t.predictions)
            if scenario is not None:
                preds = preds.where(t.predictions.c.scenario == scenario)
            return {
                "predictions": int(c.execute(preds).scalar() or 0),
                "feedback": n(t.feedback),
                "outcomes": n(t.outcomes),
            }

    def outcomes_by_version(self, scenario: str) -> list[dict[str, Any]]:
        """Per model version: predictions, outcomes, and predictions with a converting outcome."""
        with self.db.read() as c:
            q = (
                select(
                    t.predictions.c.model_version,
                    func.count(func.distinct(t.predictions.c.id)).label("predictions"),
                    func.count(t.outcomes.c.id).label("outcomes"),
                    func.sum(
                        case((t.outcomes.c.value.is_not(None), t.outcomes.c.value), else_=0)
                    ).label("value"),
                )
                .select_from(t.predictions)
                .outerjoin(t.outcomes, t.outcomes.c.prediction_id == t.predictions.c.id)
                .where(t.predictions.c.scenario == scenario)
                .group_by(t.predictions.c.model_version)
                .order_by(t.predictions.c.model_version)
            )
            return _rows(c.execute(q))


class JobRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        values = dict(
            id=new_id(),
            kind=kind,
            params=params,
            status="queued",
            progress=0.0,
            message="queued",
            result=None,
            worker=None,
            created_at=utcnow(),
            started_at=None,
            finished_at=None,
        )
        with self.db.write() as c:
            c.execute(insert(t.jobs).values(**values))
        return values

    def claim_next(self, worker: str) -> dict[str, Any] | None:
        """Atomically take the oldest queued job (compare-and-set on status)."""
        with self.db.write() as c:
            row = _row(
                c.execute(
                    select(t.jobs).where(t.jobs.c.status == "queued").order_by(t.jobs.c.id).limit(1)
                ).first()
            )
            if row is None:
                return None
            now = utcnow()
            res = c.execute(
                update(t.jobs)
                .where(t.jobs.c.id == row["id"], t.jobs.c.status == "queued")
                .values(
                    status="running",
                    worker=worker,
                    started_at=now,
                    heartbeat_at=now,
                    attempts=t.jobs.c.attempts + 1,
                    message="started",
                )
            )
            if res.rowcount != 1:
                return None
            row.update(status="running", worker=worker)
            return row

    def queued(self) -> int:
        with self.db.read() as c:
            q = select(func.count()).select_from(t.jobs).where(t.jobs.c.status == "queued")
            return int(c.execute(q).scalar() or 0)

    def progress(self, job_id: str, progress: float, message: str) -> None:
        """Progress, and a heartbeat that keeps the job's lease."""
        with self.db.write() as c:
            c.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id)
                .values(progress=progress, message=message[:2000], heartbeat_at=utcnow())
            )

    def requeue_stale(self, lease_seconds: float, max_attempts: int = 3) -> int:
        """Running jobs whose worker has not been heard from within the lease go back to the
        queue (or fail after `max_attempts`). Returns how many were requeued or failed."""
        from datetime import timedelta

        cutoff = utcnow() - timedelta(seconds=lease_seconds)
        stale = and_(t.jobs.c.status == "running", t.jobs.c.heartbeat_at < cutoff)
        with self.db.write() as c:
            n = c.execute(
                update(t.jobs)
                .where(stale, t.jobs.c.attempts < max_attempts)
                .values(status="queued", worker=None, message="requeued: its worker stopped")
            ).rowcount
            n += c.execute(
                update(t.jobs)
                .where(stale, t.jobs.c.attempts >= max_attempts)
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    message=f"its worker stopped {max_attempts} times; giving up",
                )
            ).rowcount
        return n

    def finish(self, job_id: str, status: str, message: str, result: dict | None) -> None:
        with self.db.write() as c:
            c.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id)
                .values(
                    status=status,
                    progress=1.0 if status == "done" else t.jobs.c.progress,
                    message=message[:2000],
                    result=result,
                    finished_at=utcnow(),
                )
            )

    def get(self, job_id: str) -> dict[str, Any]:
        with self.db.read() as c:
            row = _row(c.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first())
        if row is None:
            raise NotFound(f"job '{job_id}' does not exist")
        return row

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.read() as c:
            return _rows(c.execute(select(t.jobs).order_by(t.jobs.c.id.desc()).limit(limit)))
