"""Personal access tokens: a user's credential for the admin API, acting with that user's role
and named in the audit log as `user:<name>`. Shown once; stored as a SHA-256 hash (a token is
256 random bits, so a fast hash is enough, and lookups stay one indexed query)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modelmint.errors import InvalidInput
from modelmint.store import Store

PREFIX = "mmu_"
MAX_LIFETIME = timedelta(days=3650)
USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


@dataclass(frozen=True)
class Principal:
    """Who is calling the admin API: a user (by token or session) or the bootstrap token."""

    actor: str  # token:admin, user:alice
    role: str
    user: str | None = None
    tenant_id: int | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def public(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": t["id"],
        "user": t.get("user"),
        "name": t["name"],
        "prefix": t["prefix"],
        "created_at": t["created_at"],
        "expires_at": t["expires_at"],
        "last_used_at": t["last_used_at"],
        "revoked_at": t["revoked_at"],
    }


def create_token(
    store: Store,
    user: str,
    *,
    name: str | None = None,
    lifetime: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """(the token, shown once; its record). `lifetime`: 1 minute to 10 years, or None."""
    u = store.people.user(user)
    if u["disabled"]:
        raise InvalidInput(f"user {user} is disabled; enable it before giving it a token")
    if name is not None and not 1 <= len(name) <= 100:
        raise InvalidInput("a token's name has 1 to 100 characters")
    now = now or datetime.now(UTC)
    if lifetime is not None and not timedelta(minutes=1) <= lifetime <= MAX_LIFETIME:
        raise InvalidInput("a token lives from 1 minute to 10 years; e.g. --expires-in 90d")
    token = PREFIX + secrets.token_urlsafe(32)
    rec = store.people.create_token(
        u["id"],
        name=name,
        prefix=token[: len(PREFIX) + 6],
        token_hash=token_hash(token),
        expires_at=now + lifetime if lifetime else None,
    )
    store.audit.record("token.create", f"user:{user}/token:{rec['id']}", after=public(rec))
    return token, public(rec)


def list_tokens(store: Store, user: str | None = None) -> list[dict[str, Any]]:
    uid = store.people.user(user)["id"] if user else None
    return [public(t) for t in store.people.tokens(uid)]


def revoke_token(store: Store, token_id: str) -> dict[str, Any]:
    rec = store.people.revoke_token(token_id)
    if rec["revoked_now"]:
        store.audit.record(
            "token.revoke",
            f"user:{rec['user']}/token:{token_id}",
            before={"revoked_at": None},
            after={"revoked_at": rec["revoked_at"]},
        )
    return public(rec)


def authenticate_token(
    store: Store, token: str, *, now: datetime | None = None
) -> Principal | None:
    """The principal of a valid personal access token; None for anything else (unknown,
    revoked, expired, or its user disabled), so the caller answers 401 the same way."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = store.people.token_by_hash(token_hash(token))
    now = now or datetime.now(UTC)
    if row is None or row["revoked_at"] is not None or row["disabled"]:
        return None
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return None
    if row["last_used_at"] is None or now - row["last_used_at"] > USED_EVERY:
        store.people.token_used(row["id"], now)
    return Principal(f"user:{row['user']}", row["role"], row["user"], row["tenant_id"])
