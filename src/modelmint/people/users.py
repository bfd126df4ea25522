"""Users: staff with a role, and tenant developers tied to their tenant. Passwords are hashed
with Argon2id (argon2-cffi, its RFC 9106 defaults) and never stored or logged in clear; a wrong
password counts towards a lockout. Every change is audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from modelmint.errors import Forbidden, InvalidInput, Unauthorized
from modelmint.people.roles import ROLES
from modelmint.store import Store

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}", re.IGNORECASE)
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s]{1,63}")
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
LOCK_AFTER = 5  # failed sign-ins in a row
LOCK_FOR = timedelta(minutes=15)


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters; generate one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(16))"`'
        )
    if password.strip() != password or not password.strip():
        raise InvalidInput("a password may not start or end with spaces")
    return password


def hash_password(password: str) -> str:
    return str(_hasher().hash(check_password(password)))


def public(u: dict[str, Any]) -> dict[str, Any]:
    """What the CLI's --json and the admin API show of a user (never the hash)."""
    return {
        "name": u["name"],
        "email": u["email"],
        "role": u["role"],
        "tenant": u.get("tenant"),
        "disabled": bool(u["disabled"]),
        "locked_until": u["locked_until"],
        "has_password": u["password_hash"] is not None,
        "created_at": u["created_at"],
    }


def create_user(
    store: Store,
    name: str,
    *,
    role: str,
    password: str | None = None,
    email: str | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    """A user with a role (admin, operator, billing, viewer), or a tenant's `developer` (needs
    `tenant`). Without a password the user can only use tokens until one is set."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput(
            f"user name '{str(name)[:40]}' must be 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit; e.g. alice"
        )
    if role not in ROLES:
        raise InvalidInput(f"role '{str(role)[:20]}' is not one of {', '.join(ROLES)}")
    if email is not None and not EMAIL.fullmatch(email):
        raise InvalidInput(f"'{email[:80]}' is not an e-mail address; e.g. alice@example.com")
    tenant_id = None
    if role == "developer":
        if not tenant:
            raise InvalidInput("a developer belongs to a tenant: add --tenant NAME")
        tenant_id = store.billing.tenant(tenant)["id"]
    elif tenant:
        raise InvalidInput(f"--tenant is for developers; a {role} is staff and sees every tenant")
    hashed = hash_password(password) if password is not None else None
    u = store.people.create_user(
        name=name, email=email, role=role, tenant_id=tenant_id, password_hash=hashed
    )
    store.audit.record("user.create", f"user:{name}", after=public(u))
    return public(u)


def list_users(store: Store) -> list[dict[str, Any]]:
    return [public(u) for u in store.people.users()]


def set_role(store: Store, name: str, role: str, *, tenant: str | None = None) -> dict[str, Any]:
    if role not in ROLES:
        raise InvalidInput(f"role '{str(role)[:20]}' is not one of {', '.join(ROLES)}")
    before = store.people.user(name)
    if role == "developer" and not tenant:
        raise InvalidInput("a developer belongs to a tenant: add --tenant NAME")
    tenant_id = store.billing.tenant(tenant)["id"] if role == "developer" and tenant else None
    _keep_an_admin(store, before, role=role)
    now = datetime.now(UTC)
    u = store.people.update_user(name, role=role, tenant_id=tenant_id, sessions_valid_after=now)
    store.audit.record("user.role", f"user:{name}", before=public(before), after=public(u))
    return public(u)


def set_disabled(store: Store, name: str, disabled: bool) -> dict[str, Any]:
    """Disable (every session and token stops working at once) or re-enable a user."""
    before = store.people.user(name)
    if disabled:
        _keep_an_admin(store, before, disabling=True)
    values: dict[str, Any] = {"disabled": disabled}
    if disabled:
        values["sessions_valid_after"] = datetime.now(UTC)
    else:
        values.update(failed_logins=0, locked_until=None)
    u = store.people.update_user(name, **values)
    action = "user.disable" if disabled else "user.enable"
    store.audit.record(
        action,
        f"user:{name}",
        before={"disabled": before["disabled"]},
        after={"disabled": disabled},
    )
    return public(u)


def set_password(store: Store, name: str, password: str) -> dict[str, Any]:
    """A new password; the user's sessions end (tokens stay: revoke them apart)."""
    store.people.user(name)
    u = store.people.update_user(
        name,
        password_hash=hash_password(password),
        failed_logins=0,
        locked_until=None,
        sessions_valid_after=datetime.now(UTC),
    )
    store.audit.record("user.password", f"user:{name}", after={"password": "changed"})
    return public(u)


def sign_out_everywhere(store: Store, name: str) -> dict[str, Any]:
    """End every session of the user (on every host: sessions live in the database)."""
    u = store.people.update_user(name, sessions_valid_after=datetime.now(UTC))
    store.people.end_sessions_of(u["id"])
    store.audit.record("user.sign_out_everywhere", f"user:{name}")
    return public(u)


def verify_login(
    store: Store, name: str, password: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """The user whose name and password these are, else Unauthorized (the same message
    whether the name or the password is wrong); 5 wrong passwords in a row lock the account
    for 15 minutes (Forbidden while locked). Disabled users cannot sign in."""
    from argon2.exceptions import InvalidHashError, VerificationError

    now = now or datetime.now(UTC)
    wrong = Unauthorized("wrong user name or password")
    u = store.people.find(name) if isinstance(name, str) and len(name) <= 100 else None
    if u is None or u["password_hash"] is None or not isinstance(password, str):
        _hasher().hash("x" * MIN_PASSWORD)  # the same time as a real check: no name probing
        raise wrong
    if u["locked_until"] is not None and u["locked_until"] > now:
        raise Forbidden(
            f"this account is locked after {LOCK_AFTER} wrong passwords until "
            f"{u['locked_until']:%H:%M} UTC; wait, or ask an admin to re-enable it"
        )
    try:
        _hasher().verify(u["password_hash"], password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        n = store.people.login_failed(u["id"], LOCK_AFTER, now + LOCK_FOR)
        if n >= LOCK_AFTER:
            store.audit.record("user.locked", f"user:{name}", after={"failed_logins": n})
        raise wrong from None
    if u["disabled"]:
        raise Forbidden("this user is disabled; ask an admin to re-enable it")
    if u["failed_logins"] or u["locked_until"] is not None:
        store.people.login_succeeded(u["id"])
    return u


def _keep_an_admin(
    store: Store, user: dict[str, Any], *, role: str | None = None, disabling: bool = False
) -> None:
    """Refuse to take away the last enabled admin (nobody could manage people after it)."""
    if user["role"] != "admin" or user["disabled"]:
        return
    if role == "admin" and not disabling:
        return
    others = [
        u
        for u in store.people.users()
        if u["role"] == "admin" and not u["disabled"] and u["name"] != user["name"]
    ]
    if not others:
        raise InvalidInput(
            f"{user['name']} is the last enabled admin user; make another user admin first "
            "(`modelmint users set-role NAME admin`)"
        )
