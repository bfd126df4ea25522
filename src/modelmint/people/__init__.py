"""People: users with a role (admin, operator, billing, viewer) or a tenant's developers, their
passwords (Argon2id) and personal access tokens, and what each role may do (docs/security.md).
Every change is recorded in the audit log."""

from __future__ import annotations

from modelmint.people.roles import AREAS, RIGHTS, ROLES, STAFF_ROLES, allowed, refusal
from modelmint.people.sessions import Session, session_of, sign_in, sign_out
from modelmint.people.tokens import (
    Principal,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_token,
)
from modelmint.people.users import (
    check_password,
    create_user,
    list_users,
    set_disabled,
    set_password,
    set_role,
    sign_out_everywhere,
    verify_login,
)

__all__ = [
    "AREAS",
    "RIGHTS",
    "ROLES",
    "STAFF_ROLES",
    "Principal",
    "Session",
    "allowed",
    "authenticate_token",
    "check_password",
    "create_token",
    "create_user",
    "list_tokens",
    "list_users",
    "refusal",
    "revoke_token",
    "session_of",
    "set_disabled",
    "set_password",
    "set_role",
    "sign_in",
    "sign_out",
    "sign_out_everywhere",
    "verify_login",
]
