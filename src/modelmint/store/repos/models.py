"""Registered models, their aliases (production, ...) and the audit trail of alias moves."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelmint.errors import Conflict, NotFound
from modelmint.store import tables as t
from modelmint.store.db import Database, utcnow
from modelmint.store.repos.common import as_dict, as_dicts


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
            row = as_dict(
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
            return as_dicts(c.execute(q))

    def aliases(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as c:
            q = select(t.model_aliases)
            if name:
                q = q.where(t.model_aliases.c.name == name)
            return as_dicts(c.execute(q))

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
            return as_dicts(c.execute(q))
