"""The business's admin HTTP API: plans, tenants, API keys, invoices and alerts, the same
operations as `modelmint plans|tenants|keys|invoices|alerts`, behind MODELMINT_ADMIN_TOKEN."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, create_model

from modelmint import billing
from modelmint.billing import invoices
from modelmint.billing.plans import UNSETTABLE
from modelmint.serve.access import require
from modelmint.serve.errors import ADMIN_ERRORS
from modelmint.settings import Settings
from modelmint.store import Store


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


_MONEY = "Decimal string, 0 to 1000000000 with at most 6 decimals"


class PlanFields(_Body):
    """A request body holding `billing.PlanSpec`'s fields (the options of `modelmint plans
    create|update`), made by `_plan_body` from the spec: one JSON field per PlanSpec field,
    same name, described with its meaning, unit and range. The ranges are checked by billing
    (400 naming the field), the same for the CLI; see docs/api.md."""

    def spec(self) -> billing.PlanSpec:
        """The PlanSpec this body gives (fields left out: None)."""
        return billing.PlanSpec(**self.model_dump(include={f.name for f in billing.plan_fields()}))


def _plan_body(model: str, doc: str, *, updatable: bool, **extra: Any) -> type[PlanFields]:
    """A PlanFields model with PlanSpec's fields (``updatable``: those a new version may
    change) and the `extra` fields (pydantic's (type, default) pairs)."""
    fields: dict[str, Any] = {}
    for f in billing.plan_fields(updatable=updatable):
        least, most = f.length or (None, None)
        described = Field(default=None, description=f.help, min_length=least, max_length=most)
        fields[f.name] = (f.type, described)
    return create_model(model, __base__=PlanFields, __doc__=doc, **extra, **fields)


PlanIn = _plan_body(
    "PlanIn",
    "A new plan (version 1): its name and PlanSpec's fields.",
    updatable=False,
    name=(str, Field(min_length=1, max_length=63)),
)
PlanVersionIn = _plan_body(
    "PlanVersionIn",
    "A new version of a plan: the PlanSpec fields to change, those to clear, and whether to "
    "move the tenants on older versions to it now.",
    updatable=True,
    unset=(
        list[str] | None,
        Field(default=None, description="Fields to clear: " + ", ".join(UNSETTABLE) + "."),
    ),
    move_tenants=(bool, False),
)


class ChangePlanIn(_Body):
    plan: str = Field(min_length=1, max_length=80, description="NAME or NAME@VERSION")


class TenantIn(_Body):
    name: str = Field(min_length=1, max_length=63)
    plan: str
    status: str | None = None
    trial_days: int | None = Field(default=None, description="1 to 365.")
    currency: str | None = None
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    discount_percent: str | None = None
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        description="http(s) URL on a public address (MODELMINT_WEBHOOK_ALLOW_PRIVATE allows "
        "others).",
    )


class KeyIn(_Body):
    tenant: str
    name: str | None = Field(default=None, max_length=100)
    test: bool = False
    scenarios: list[str] | None = Field(
        default=None,
        description="The only scenarios the key may call; leave it out for all (an empty list "
        "is refused).",
    )
    read_only: bool = False
    expires_in: str | None = Field(
        default=None, description="1m to 3650d, e.g. 90d, 24h (omit: never)."
    )


class RotateIn(_Body):
    overlap: str = Field(default="24h", description="0s to 3650d.")


class CloseIn(_Body):
    period: str
    tenant: str | None = None


class CreditIn(_Body):
    amount: str = Field(description=f"{_MONEY}, more than 0, tax included.")
    reason: str = Field(min_length=1, max_length=500)


def _key_out(key: str | None, rec: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: rec.get(k) for k in ("id", "prefix", "name", "mode", "scenarios", "access", "expires_at")
    }
    out["prefix"] = (out["prefix"] or "") + "…"
    if key is not None:
        out["key"] = key  # shown once, never stored
    return out


def admin_router(store: Store, settings: Settings) -> APIRouter:
    r = APIRouter(
        prefix="/v1/admin",
        tags=["admin"],
        dependencies=[Depends(require("billing"))],
        responses=ADMIN_ERRORS,
    )

    def _names() -> dict[int, str]:
        """Tenant names by id, read once per request (not once per invoice)."""
        return {t["id"]: t["name"] for t in store.billing.tenants()}

    @r.post("/plans", status_code=201)
    async def create_plan(body: PlanIn) -> dict[str, Any]:
        spec = body.spec()
        spec = dataclasses.replace(spec, currency=spec.currency or settings.currency)
        plan = await run_in_threadpool(billing.create_plan, store, body.name, spec)
        return {"ok": True, "id": plan["id"], **billing.plan_public(plan)}

    @r.post("/plans/{name}/versions", status_code=201)
    async def update_plan(name: str, body: PlanVersionIn) -> dict[str, Any]:
        plan, moved = await run_in_threadpool(
            lambda: billing.update_plan(
                store, name, body.spec(), unset=body.unset, move_tenants=body.move_tenants
            )
        )
        return {"ok": True, "id": plan["id"], **billing.plan_public(plan), "tenants_moved": moved}

    @r.get("/plans")
    async def list_plans(all_versions: bool = False) -> dict[str, Any]:
        rows = await run_in_threadpool(lambda: store.billing.plans(latest=not all_versions))
        return {"plans": [{"id": p["id"], **billing.plan_public(p)} for p in rows]}

    @r.post("/tenants/{name}/plan")
    async def change_plan(name: str, body: ChangePlanIn) -> dict[str, Any]:
        out = await run_in_threadpool(billing.change_plan, store, name, body.plan)
        return {"ok": True, **out}

    @r.post("/tenants", status_code=201)
    async def create_tenant(body: TenantIn) -> dict[str, Any]:
        t = await run_in_threadpool(
            lambda: billing.create_tenant(store, **body.model_dump(), settings=settings)
        )
        out = {"ok": True, "name": t["name"], "status": t["status"], "currency": t["currency"]}
        if t.get("webhook_secret"):
            out["webhook_secret"] = t["webhook_secret"]  # shown once
        return out

    @r.get("/tenants")
    async def list_tenants() -> dict[str, Any]:
        rows = await run_in_threadpool(store.billing.tenants)
        return {"tenants": [{k: v for k, v in t.items() if k != "webhook_secret"} for t in rows]}

    @r.post("/tenants/{name}/suspend")
    async def suspend(name: str) -> dict[str, Any]:
        t = await run_in_threadpool(billing.set_tenant_status, store, name, "suspended")
        return {"ok": True, "name": t["name"], "status": t["status"]}

    @r.post("/tenants/{name}/activate")
    async def activate(name: str) -> dict[str, Any]:
        t = await run_in_threadpool(billing.set_tenant_status, store, name, "active")
        return {"ok": True, "name": t["name"], "status": t["status"]}

    @r.post("/keys", status_code=201)
    async def create_key(body: KeyIn) -> dict[str, Any]:
        key, rec = await run_in_threadpool(
            lambda: billing.create_key(
                store,
                body.tenant,
                body.name,
                test=body.test,
                scenarios=body.scenarios,
                read_only=body.read_only,
                expires_in=body.expires_in,
            )
        )
        return {"ok": True, "tenant": body.tenant, **_key_out(key, rec)}

    @r.get("/keys")
    async def list_keys(tenant: str | None = None) -> dict[str, Any]:
        def run() -> list[dict[str, Any]]:
            tid = store.billing.tenant(tenant)["id"] if tenant else None
            return [
                {**_key_out(None, k), "tenant": k["tenant"], "revoked_at": k["revoked_at"]}
                for k in store.billing.keys(tid)
            ]

        return {"keys": await run_in_threadpool(run)}

    @r.post("/keys/{key_id}/revoke")
    async def revoke_key(key_id: str) -> dict[str, Any]:
        rec = await run_in_threadpool(billing.revoke_key, store, key_id)
        return {"ok": True, "id": rec["id"], "revoked_at": rec["revoked_at"]}

    @r.post("/keys/{key_id}/rotate", status_code=201)
    async def rotate_key(key_id: str, body: RotateIn) -> dict[str, Any]:
        key, rec = await run_in_threadpool(billing.rotate_key, store, key_id, body.overlap)
        return {"ok": True, "replaces": key_id, **_key_out(key, rec)}

    @r.post("/invoices/close")
    async def close(body: CloseIn) -> dict[str, Any]:
        def run() -> list[dict[str, Any]]:
            done = invoices.close_period(
                store, body.period, tenant=body.tenant, tax_rate=settings.tax_rate_percent
            )
            names = _names()
            return [
                {**invoices.public(inv, names[inv["tenant_id"]]), "created": created}
                for inv, created in done
            ]

        return {"invoices": await run_in_threadpool(run)}

    @r.get("/invoices")
    async def list_invoices(tenant: str | None = None, period: str | None = None) -> dict:
        def run() -> list[dict[str, Any]]:
            tid = store.billing.tenant(tenant)["id"] if tenant else None
            names = _names()
            return [
                invoices.public(inv, names[inv["tenant_id"]])
                for inv in store.invoices.list(tid, period)
            ]

        return {"invoices": await run_in_threadpool(run)}

    @r.get("/invoices/{number}")
    async def show_invoice(number: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            inv = store.invoices.get(number[:40])
            return invoices.public(inv, _names()[inv["tenant_id"]])

        return await run_in_threadpool(run)

    @r.post("/invoices/{number}/credit", status_code=201)
    async def credit(number: str, body: CreditIn) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            cn = invoices.credit_note(store, number[:40], amount=body.amount, reason=body.reason)
            return invoices.public(cn, _names()[cn["tenant_id"]])

        return await run_in_threadpool(run)

    @r.get("/alerts")
    async def list_alerts(tenant: str | None = None) -> dict[str, Any]:
        def run() -> list[dict[str, Any]]:
            tid = store.billing.tenant(tenant)["id"] if tenant else None
            return store.alerts.list(tid)

        return {"alerts": await run_in_threadpool(run)}

    return r
