"""The admin API's audit trail (the same as `modelmint audit list|verify|checkpoint`): who did
what, and proof that nobody rewrote it. See docs/security.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.concurrency import run_in_threadpool

from modelmint import audit
from modelmint.errors import InvalidInput
from modelmint.serve.access import require
from modelmint.serve.errors import ADMIN_ERRORS
from modelmint.store import Store

Filter = Annotated[str | None, Query(max_length=300)]


def audit_router(store: Store) -> APIRouter:
    r = APIRouter(tags=["admin"], dependencies=[Depends(require("audit"))], responses=ADMIN_ERRORS)

    @r.get("/v1/admin/audit")
    async def list_entries(
        actor: Annotated[
            str | None, Query(max_length=200, description="e.g. token:admin, or a prefix: cli:")
        ] = None,
        target: Annotated[
            str | None,
            Query(max_length=300, description="e.g. tenant:acme (and what is under it)"),
        ] = None,
        action: Annotated[
            str | None, Query(max_length=60, description="e.g. key.revoke, or a prefix: key.")
        ] = None,
        since: Annotated[
            str | None, Query(max_length=40, description="From this UTC day or time.")
        ] = None,
        until: Annotated[
            str | None, Query(max_length=40, description="Before this UTC day or time.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**12)] = 0,
    ) -> dict[str, Any]:
        """Entries, newest first, with the total that match (this read is itself recorded)."""

        def run() -> dict[str, Any]:
            rows, total = store.audit.read(
                actor=actor,
                target=target,
                action=action,
                since=audit.check_time(since, "since"),
                until=audit.check_time(until, "until"),
                limit=limit,
                offset=offset,
            )
            return {"total": total, "limit": limit, "offset": offset, "entries": rows}

        return await run_in_threadpool(run)

    @r.post("/v1/admin/audit/verify")
    async def verify(
        checkpoint: Annotated[
            dict[str, Any] | None,
            Body(description="A checkpoint from POST /v1/admin/audit/checkpoint (optional)."),
        ] = None,
    ) -> dict[str, Any]:
        """Walk the whole chain; `ok` false names the first edited, deleted, reordered or
        inserted entry (and, with a checkpoint, a cut-off tail)."""

        def run() -> dict[str, Any]:
            try:
                return store.audit.verify(checkpoint).as_json()
            except ValueError as exc:
                raise InvalidInput(f"checkpoint: {exc}") from None

        return await run_in_threadpool(run)

    @r.post("/v1/admin/audit/checkpoint")
    async def checkpoint() -> dict[str, Any]:
        """A signed checkpoint (entry count and head MAC) to keep away from the database."""
        return await run_in_threadpool(store.audit.checkpoint)

    return r
