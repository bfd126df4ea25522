"""The admin API's people (the same as `modelmint users ...`): users, roles, access tokens.
Only admins (the bootstrap token, or a user with the admin role) may call it."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from modelmint import people
from modelmint.billing import ranges
from modelmint.serve.access import require
from modelmint.serve.errors import ADMIN_ERRORS
from modelmint.store import Store

Role = Literal["admin", "operator", "billing", "viewer", "developer"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(_Body):
    name: str = Field(min_length=1, max_length=100, description="e.g. alice")
    role: Role
    email: str | None = Field(default=None, max_length=320)
    tenant: str | None = Field(default=None, max_length=100, description="A developer's tenant.")
    password: str | None = Field(
        default=None,
        min_length=people.users.MIN_PASSWORD,
        max_length=people.users.MAX_PASSWORD,
        description="12 to 1024 characters; leave out for a user with tokens only.",
    )


class RoleIn(_Body):
    role: Role
    tenant: str | None = Field(default=None, max_length=100)


class PasswordIn(_Body):
    password: str = Field(
        min_length=people.users.MIN_PASSWORD, max_length=people.users.MAX_PASSWORD
    )


class TokenIn(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    expires_in: str | None = Field(
        default=None, max_length=20, description="e.g. 90d (1 minute to 10 years); none: no expiry"
    )


def people_router(store: Store) -> APIRouter:
    r = APIRouter(
        prefix="/v1/admin",
        tags=["admin"],
        dependencies=[Depends(require("people"))],
        responses=ADMIN_ERRORS,
    )

    @r.get("/users")
    async def list_users() -> dict[str, Any]:
        return {"users": await run_in_threadpool(people.list_users, store)}

    @r.post("/users", status_code=201)
    async def create_user(body: UserIn) -> dict[str, Any]:
        return await run_in_threadpool(
            lambda: people.create_user(
                store,
                body.name,
                role=body.role,
                password=body.password,
                email=body.email,
                tenant=body.tenant,
            )
        )

    @r.post("/users/{name}/role")
    async def set_role(name: str, body: RoleIn) -> dict[str, Any]:
        return await run_in_threadpool(
            lambda: people.set_role(store, name, body.role, tenant=body.tenant)
        )

    @r.post("/users/{name}/disable")
    async def disable(name: str) -> dict[str, Any]:
        return await run_in_threadpool(people.set_disabled, store, name, True)

    @r.post("/users/{name}/enable")
    async def enable(name: str) -> dict[str, Any]:
        return await run_in_threadpool(people.set_disabled, store, name, False)

    @r.post("/users/{name}/password")
    async def set_password(name: str, body: PasswordIn) -> dict[str, Any]:
        return await run_in_threadpool(people.set_password, store, name, body.password)

    @r.get("/users/{name}/tokens")
    async def list_tokens(name: str) -> dict[str, Any]:
        return {"tokens": await run_in_threadpool(people.list_tokens, store, name)}

    @r.post("/users/{name}/tokens", status_code=201)
    async def create_token(name: str, body: TokenIn) -> dict[str, Any]:
        """A personal access token (shown once), acting with the user's role."""

        def run() -> dict[str, Any]:
            life = ranges.duration(body.expires_in, "expires_in") if body.expires_in else None
            token, rec = people.create_token(store, name, name=body.name, lifetime=life)
            return {"token": token, **rec}

        return await run_in_threadpool(run)

    @r.post("/tokens/{token_id}/revoke")
    async def revoke_token(token_id: str) -> dict[str, Any]:
        return await run_in_threadpool(people.revoke_token, store, token_id)

    return r
