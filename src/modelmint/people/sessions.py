"""Signed-in browser sessions for the web pages: a random 256-bit token in a Secure (over TLS),
HttpOnly, SameSite=Strict cookie; the database keeps only its SHA-256. A session ends when it is
idle too long, when it reaches its absolute lifetime, when its user signs out (here or
everywhere), is disabled, or changes role or password. Each session has its own CSRF token,
which every form must send back."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modelmint.people.users import verify_login
from modelmint.store import Store

TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


@dataclass(frozen=True)
class Session:
    id: str  # the SHA-256 of the cookie's token
    user: str
    role: str
    tenant_id: int | None
    csrf: str
    expires_at: datetime

    @property
    def actor(self) -> str:
        return f"user:{self.user}"

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf, str(sent))


def _id(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def sign_in(
    store: Store,
    name: str,
    password: str,
    *,
    lifetime: timedelta,
    address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> tuple[str, Session]:
    """Check the name and password (lockout included: `verify_login`), then open a session.
    Returns (the cookie's token, the session)."""
    now = now or datetime.now(UTC)
    u = verify_login(store, name, password, now=now)
    token = secrets.token_urlsafe(32)
    values: dict[str, Any] = {
        "id": _id(token),
        "user_id": u["id"],
        "csrf": secrets.token_urlsafe(32),
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + lifetime,
        "address": (address or "")[:64] or None,
        "user_agent": (user_agent or "")[:200] or None,
    }
    store.people.create_session(**values)
    store.audit.record("user.sign_in", f"user:{u['name']}", after={"address": values["address"]})
    return token, Session(
        values["id"], u["name"], u["role"], u["tenant_id"], values["csrf"], values["expires_at"]
    )


def session_of(
    store: Store, token: str | None, *, idle: timedelta, now: datetime | None = None
) -> Session | None:
    """The live session of a cookie's token, or None (unknown, idle too long, past its
    lifetime, or ended by its user's sign-out everywhere, role or password change or
    disabling)."""
    if not token or len(token) > 200:
        return None
    row = store.people.session(_id(token))
    now = now or datetime.now(UTC)
    if row is None:
        return None
    valid_after = row["sessions_valid_after"]
    if (
        row["disabled"]
        or row["expires_at"] <= now
        or now - row["last_seen_at"] > idle
        or (valid_after is not None and row["created_at"] < valid_after)
    ):
        store.people.end_session(row["id"])
        return None
    if now - row["last_seen_at"] > TOUCH_EVERY:
        store.people.touch_session(row["id"], now)
    return Session(
        row["id"], row["user"], row["role"], row["tenant_id"], row["csrf"], row["expires_at"]
    )


def sign_out(store: Store, token: str | None) -> None:
    if token:
        store.people.end_session(_id(token))
