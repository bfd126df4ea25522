"""Roles and what each may do, by area of the admin API and the dashboard (docs/security.md).

An area is read (GET, and the few POSTs that only compute an answer, such as verifying the audit
log) or written (everything that changes something). The table is the one place the rights are
decided; the server checks every admin route against it, and a test walks every route with
every role."""

from __future__ import annotations

ROLES = ("admin", "operator", "billing", "viewer", "developer")
STAFF_ROLES = ROLES[:4]

AREAS = {
    "operations": "data, models, promotions, experiments, policies, monitoring and jobs",
    "billing": "plans, tenants, keys, invoices, credit notes and alerts",
    "insights": "revenue, costs, margin, the funnel and exchange rates",
    "audit": "the audit log",
    "people": "users, roles and access tokens",
}

READ, WRITE = "read", "write"

RIGHTS: dict[str, dict[str, str]] = {
    "admin": dict.fromkeys(AREAS, WRITE),
    "operator": {"operations": WRITE},
    "billing": {"billing": WRITE, "insights": WRITE},
    "viewer": {"operations": READ, "billing": READ, "insights": READ},
    "developer": {},  # a tenant's developer: the portal of their own tenant only
}


def allowed(role: str, area: str, write: bool) -> bool:
    right = RIGHTS.get(role, {}).get(area)
    return right == WRITE or (right == READ and not write)


def refusal(role: str, area: str, write: bool) -> str:
    """Why `role` may not do this, and who may."""
    verb = "change" if write else "see"
    who = [r for r in STAFF_ROLES if allowed(r, area, write)]
    return (
        f"the {role} role may not {verb} {AREAS[area]}; ask an admin for a user with the role "
        f"{' or '.join(who)}"
    )


__all__ = ["AREAS", "READ", "RIGHTS", "ROLES", "STAFF_ROLES", "WRITE", "allowed", "refusal"]
