"""Users and their personal access tokens (the rules are in `modelmint.people`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelmint.errors import Conflict, NotFound
from modelmint.store import tables as t
from modelmint.store.db import Database, as_utc, new_id, utcnow
from modelmint.store.repos.common import as_dict, as_dicts

_TIMES = ("locked_until", "sessions_valid_after", "created_at", "updated_at")


def _user(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None:
        for k in _TIMES:
            row[k] = as_utc(row.get(k))
    return row


def _with_user(table: Any) -> Any:
    """`table`'s rows (tokens, sessions) with what decides whether they still work: their
    user's name, role, tenant, disabled flag and sessions_valid_after."""
    u = t.users.c
    return select(
        table, u.name.label("user"), u.role, u.disabled, u.tenant_id, u.sessions_valid_after
    ).join(t.users, u.id == table.c.user_id)


class PeopleRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _select(self) -> Any:
        return select(t.users, t.tenants.c.name.label("tenant")).join(
            t.tenants, t.tenants.c.id == t.users.c.tenant_id, isouter=True
        )

    def create_user(self, **values: Any) -> dict[str, Any]:
        now = utcnow()
        try:
            with self.db.write() as c:
                c.execute(insert(t.users).values(**values, created_at=now, updated_at=now))
        except IntegrityError:
            raise Conflict(
                f"user '{values['name']}' already exists; pick another name or see "
                "`modelmint users list`"
            ) from None
        return self.user(values["name"])

    def find(self, name: str) -> dict[str, Any] | None:
        with self.db.read() as c:
            return _user(as_dict(c.execute(self._select().where(t.users.c.name == name)).first()))

    def user(self, name: str) -> dict[str, Any]:
        row = self.find(name)
        if row is None:
            raise NotFound(
                f"user '{name[:100]}' does not exist; see `modelmint users list` or create it "
                f"with `modelmint users create {name[:100]} --role viewer`"
            )
        return row

    def users(self) -> list[dict[str, Any]]:
        with self.db.read() as c:
            rows = as_dicts(c.execute(self._select().order_by(t.users.c.name)))
        return [r for r in (_user(r) for r in rows) if r is not None]

    def update_user(self, name: str, **values: Any) -> dict[str, Any]:
        with self.db.write() as c:
            res = c.execute(
                update(t.users).where(t.users.c.name == name).values(**values, updated_at=utcnow())
            )
        if res.rowcount != 1:
            self.user(name)  # NotFound with the fix
        return self.user(name)

    def login_failed(self, user_id: int, lock_after: int, lock_until: datetime) -> int:
        """Count one failed sign-in (atomically); lock the account at `lock_after` failures.
        Returns the count."""
        with self.db.write() as c:
            c.execute(
                update(t.users)
                .where(t.users.c.id == user_id)
                .values(failed_logins=t.users.c.failed_logins + 1)
            )
            n = int(
                c.execute(
                    select(t.users.c.failed_logins).where(t.users.c.id == user_id)
                ).scalar_one()
            )
            if n >= lock_after:
                c.execute(
                    update(t.users)
                    .where(t.users.c.id == user_id)
                    .values(locked_until=lock_until, failed_logins=0)
                )
        return n

    def login_succeeded(self, user_id: int) -> None:
        with self.db.write() as c:
            c.execute(
                update(t.users)
                .where(t.users.c.id == user_id)
                .values(failed_logins=0, locked_until=None)
            )

    # tokens ----------------------------------------------------------------------------------
    def create_token(self, user_id: int, **values: Any) -> dict[str, Any]:
        row = {"id": new_id(), "user_id": user_id, "created_at": utcnow(), **values}
        with self.db.write() as c:
            c.execute(insert(t.user_tokens).values(**row))
        return self.token(row["id"])

    def token(self, token_id: str) -> dict[str, Any]:
        q = (
            select(t.user_tokens, t.users.c.name.label("user"))
            .join(t.users, t.users.c.id == t.user_tokens.c.user_id)
            .where(t.user_tokens.c.id == token_id)
        )
        with self.db.read() as c:
            row = as_dict(c.execute(q).first())
        if row is None:
            raise NotFound(f"token '{token_id[:40]}' does not exist; see `modelmint users tokens`")
        return row

    def tokens(self, user_id: int | None = None) -> list[dict[str, Any]]:
        q = select(
            *[c for c in t.user_tokens.c if c.name != "token_hash"],
            t.users.c.name.label("user"),
        ).join(t.users, t.users.c.id == t.user_tokens.c.user_id)
        if user_id is not None:
            q = q.where(t.user_tokens.c.user_id == user_id)
        with self.db.read() as c:
            return as_dicts(c.execute(q.order_by(t.user_tokens.c.created_at)))

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        row = self.token(token_id)
        row["revoked_now"] = row["revoked_at"] is None
        if row["revoked_now"]:
            row["revoked_at"] = utcnow()
            with self.db.write() as c:
                c.execute(
                    update(t.user_tokens)
                    .where(t.user_tokens.c.id == token_id, t.user_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=row["revoked_at"])
                )
        return row

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        """The token with its user's name, role, tenant and state (None: unknown)."""
        q = _with_user(t.user_tokens).where(t.user_tokens.c.token_hash == token_hash)
        with self.db.read() as c:
            return as_dict(c.execute(q).first())

    def token_used(self, token_id: str, at: datetime) -> None:
        with self.db.write() as c:
            c.execute(
                update(t.user_tokens).where(t.user_tokens.c.id == token_id).values(last_used_at=at)
            )

    # sessions --------------------------------------------------------------------------------
    def create_session(self, **values: Any) -> None:
        with self.db.write() as c:
            c.execute(insert(t.sessions).values(**values))

    def session(self, session_id: str) -> dict[str, Any] | None:
        """The session with its user's name, role, tenant and state (None: unknown)."""
        q = _with_user(t.sessions).where(t.sessions.c.id == session_id)
        with self.db.read() as c:
            return as_dict(c.execute(q).first())

    def touch_session(self, session_id: str, at: datetime) -> None:
        with self.db.write() as c:
            c.execute(
                update(t.sessions).where(t.sessions.c.id == session_id).values(last_seen_at=at)
            )

    def end_session(self, session_id: str) -> None:
        with self.db.write() as c:
            c.execute(delete(t.sessions).where(t.sessions.c.id == session_id))

    def end_sessions_of(self, user_id: int) -> int:
        with self.db.write() as c:
            return int(
                c.execute(delete(t.sessions).where(t.sessions.c.user_id == user_id)).rowcount
            )

    def purge_sessions(self, now: datetime) -> int:
        with self.db.write() as c:
            return int(c.execute(delete(t.sessions).where(t.sessions.c.expires_at <= now)).rowcount)
