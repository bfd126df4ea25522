"""Who may call the admin API, and what: the bootstrap admin token (MODELMINT_ADMIN_TOKEN, role
admin, for automation) or a user's personal access token (`mmu_...`, that user's role). Every
admin route belongs to an area (modelmint.people.roles); `require(area)` authenticates, checks
the role's right to read or change that area, and names the caller in the audit log."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Request
from fastapi.concurrency import run_in_threadpool

from modelmint import audit, people
from modelmint.errors import Forbidden, Unauthorized
from modelmint.people.tokens import PREFIX as TOKEN_PREFIX

READ_METHODS = ("GET", "HEAD", "OPTIONS")


async def principal_of(request: Request, authorization: str | None) -> people.Principal:
    """The caller of an admin route, or 401/403 naming the fix."""
    state = request.app.state
    scheme, _, credential = (authorization or "").partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential.startswith(TOKEN_PREFIX):
        p = await run_in_threadpool(people.authenticate_token, state.store, credential)
        if p is None:
            raise Unauthorized(
                "this access token is unknown, revoked or expired, or its user is disabled; "
                "create a new one with `modelmint users token create NAME`"
            )
        if p.role == "developer":
            raise Forbidden("a developer's token opens the portal of its tenant, not the admin API")
        return p
    token = state.settings.admin_token
    if token is None:
        raise Forbidden(
            "the admin API takes a user's access token (`modelmint users token create NAME`); "
            "the bootstrap token is off (set MODELMINT_ADMIN_TOKEN to turn it on)"
        )
    expected = f"Bearer {token.get_secret_value()}"
    if not authorization or not hmac.compare_digest(authorization.encode(), expected.encode()):
        raise Unauthorized(
            "admin credential missing or wrong; send 'Authorization: Bearer <admin token or "
            "user access token>'"
        )
    return people.Principal("token:admin", "admin")


def require(area: str, *, read_only: bool = False) -> Callable[..., Awaitable[people.Principal]]:
    """A dependency: the caller may read `area` (GET) or change it (any other method; or only
    read, with `read_only`, for a POST that computes an answer and changes nothing)."""
    if area not in people.AREAS:
        raise ValueError(f"unknown area {area}")

    async def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> people.Principal:
        p = await principal_of(request, authorization)
        write = request.method not in READ_METHODS and not read_only
        if not people.allowed(p.role, area, write):
            raise Forbidden(people.refusal(p.role, area, write))
        # the audit log names who acted: every entry this request records carries it
        audit.set_actor(audit.Actor(p.actor, getattr(request.state, "request_id", None)))
        request.state.principal = p
        return p

    dependency.area = area  # type: ignore[attr-defined]  # what the route-walking test reads
    dependency.read_only = read_only  # type: ignore[attr-defined]
    return dependency
