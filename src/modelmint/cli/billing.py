"""`modelmint plans|tenants|keys` and `modelmint usage`."""

from __future__ import annotations

from typing import Annotated

import typer

from modelmint.cli._common import JsonOpt, console, print_json, state, table

plans = typer.Typer(
    help="Price plans: price per 1,000 units, monthly quota, rate limit.", no_args_is_help=True
)
tenants = typer.Typer(
    help="Tenants: the customer organisations that call the API.", no_args_is_help=True
)
keys = typer.Typer(help="API keys: shown once, stored hashed, revocable.", no_args_is_help=True)


def _plan_public(p: dict) -> dict:
    from modelmint.types import Money

    return {
        "name": p["name"],
        "currency": p["currency"],
        "price_per_1k": Money(p["price_per_1k_micros"], p["currency"]).decimal_str(),
        "price_per_1k_micros": p["price_per_1k_micros"],
        "quota": p["monthly_quota"],
        "rate_limit": p["rate_limit_rps"],
        "burst": p["burst"],
        "tenant_rate_limit": p.get("tenant_rate_limit_rps"),
        "concurrency": p.get("max_concurrent"),
        "budget": (
            Money(p["budget_micros"], p["currency"]).decimal_str()
            if p.get("budget_micros") is not None
            else None
        ),
    }


@plans.command("create")
def plans_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Plan name, e.g. starter.")],
    price_per_1k: Annotated[
        str, typer.Option("--price-per-1k", help="Price per 1,000 units, a decimal such as 2.00.")
    ],
    quota: Annotated[
        int | None, typer.Option("--quota", help="Units per month (omit for unlimited).")
    ] = None,
    rate_limit: Annotated[
        float | None,
        typer.Option("--rate-limit", help="Requests per second per key (omit for none)."),
    ] = None,
    burst: Annotated[
        int | None, typer.Option("--burst", help="Burst size for the rate limit.")
    ] = None,
    tenant_rate_limit: Annotated[
        float | None,
        typer.Option("--tenant-rate-limit", help="Requests per second across a tenant's keys."),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="A tenant's calls in flight at most.")
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option("--budget", help="Most a tenant may spend a month, e.g. 50.00 (a cap)."),
    ] = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="ISO 4217 code (default: MODELMINT_CURRENCY).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a plan. Money is parsed as a decimal and stored as integer micro-units."""
    from modelmint import billing

    st = state(ctx)
    p = billing.create_plan(
        st.workspace().store,
        name,
        price_per_1k=price_per_1k,
        quota=quota,
        rate_limit=rate_limit,
        burst=burst,
        tenant_rate_limit=tenant_rate_limit,
        concurrency=concurrency,
        budget=budget,
        currency=currency or st.settings().currency,
    )
    if as_json:
        print_json(_plan_public(p))
    else:
        pp = _plan_public(p)
        console.print(
            f"[green]plan {name}[/]: {pp['price_per_1k']} {pp['currency']} per 1,000 units, quota "
            f"{quota if quota is not None else 'unlimited'}/month"
        )


@plans.command("list")
def plans_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List plans."""
    rows = [_plan_public(p) for p in state(ctx).workspace().store.billing.plans()]
    if as_json:
        print_json(rows)
        return
    console.print(
        table(
            None,
            ["plan", "price / 1k", "quota / month", "rate limit"],
            [
                [
                    p["name"],
                    f"{p['price_per_1k']} {p['currency']}",
                    p["quota"] if p["quota"] is not None else "unlimited",
                    f"{p['rate_limit']:g}/s" if p["rate_limit"] else "none",
                ]
                for p in rows
            ],
        )
    )


@tenants.command("create")
def tenants_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Tenant name, e.g. acme.")],
    plan: Annotated[str, typer.Option("--plan", help="Plan name.")],
    status: Annotated[str, typer.Option("--status", help="trial or active.")] = "active",
    currency: Annotated[
        str | None, typer.Option("--currency", help="Must match the plan's (checked).")
    ] = None,
    contact_name: Annotated[str | None, typer.Option("--contact-name", help="Who to ask.")] = None,
    contact_email: Annotated[
        str | None, typer.Option("--contact-email", help="Where invoices and alerts go.")
    ] = None,
    discount: Annotated[
        str | None, typer.Option("--discount", help="Percent off every invoice, e.g. 10.")
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option("--webhook-url", help="Quota and budget alerts are POSTed here, signed."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a tenant (a customer organisation) on a plan."""
    from modelmint import billing

    t = billing.create_tenant(
        state(ctx).workspace().store,
        name,
        plan=plan,
        status=status,
        currency=currency,
        contact_name=contact_name,
        contact_email=contact_email,
        discount_percent=discount,
        webhook_url=webhook_url,
    )
    out = {"name": t["name"], "plan": plan, "status": t["status"], "currency": t["currency"]}
    if t["webhook_secret"]:
        out["webhook_secret"] = t["webhook_secret"]
    if as_json:
        print_json(out)
    else:
        console.print(
            f"[green]tenant {name}[/] on plan {plan} ({t['status']}, {t['currency']}); next: "
            f"modelmint keys create --tenant {name}"
        )
        if t["webhook_secret"]:
            console.print("webhook signing secret (shown once; verify ModelMint-Signature):")
            typer.echo(t["webhook_secret"])


def _set_status(ctx: typer.Context, name: str, status: str) -> None:
    from modelmint import billing

    t = billing.set_tenant_status(state(ctx).workspace().store, name, status)
    console.print(f"tenant {t['name']} is now [bold]{t['status']}[/]")


@tenants.command("suspend")
def tenants_suspend(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Tenant name.")]
) -> None:
    """Suspend a tenant: its keys get 403 from the next request; nothing is deleted."""
    _set_status(ctx, name, "suspended")


@tenants.command("activate")
def tenants_activate(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Tenant name.")]
) -> None:
    """Make a trial or suspended tenant active."""
    _set_status(ctx, name, "active")


@tenants.command("list")
def tenants_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List tenants."""
    rows = [
        {
            "name": t["name"],
            "plan": t["plan"],
            "status": t["status"],
            "currency": t["currency"],
            "contact_name": t["contact_name"],
            "contact_email": t["contact_email"],
            "created_at": t["created_at"],
        }
        for t in state(ctx).workspace().store.billing.tenants()
    ]
    if as_json:
        print_json(rows)
        return
    console.print(
        table(
            None,
            ["tenant", "plan", "status", "currency", "contact", "created"],
            [
                [
                    t["name"],
                    t["plan"],
                    t["status"],
                    t["currency"] or "",
                    t["contact_email"] or "",
                    t["created_at"].strftime("%Y-%m-%d"),
                ]
                for t in rows
            ],
        )
    )


@keys.command("create")
def keys_create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant the key belongs to.")],
    name: Annotated[str | None, typer.Option("--name", help="A label for the key.")] = None,
    test: Annotated[
        bool, typer.Option("--test", help="An mm_test_ key: metered apart, never billed.")
    ] = False,
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", help="Only this scenario (repeat for several; default all)."),
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Usage and invoices only; no predictions.")
    ] = False,
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="Expiry, e.g. 90d, 24h (default never).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key. It is printed once and stored only as a hash."""
    from modelmint import billing

    key, rec = billing.create_key(
        state(ctx).workspace().store,
        tenant,
        name,
        test=test,
        scenarios=scenario,
        read_only=read_only,
        expires_in=expires_in,
    )
    _print_new_key(key, rec, tenant, as_json)


def _print_new_key(key: str, rec: dict, tenant: str, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "key": key,
                "id": rec["id"],
                "tenant": tenant,
                "prefix": rec["prefix"],
                "mode": rec["mode"],
                "scenarios": rec["scenarios"],
                "access": rec["access"],
                "expires_at": rec["expires_at"],
            }
        )
        return
    console.print(f"API key for {tenant} (id {rec['id']}) - shown once, store it now:")
    typer.echo(key)


@keys.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="Key id from `modelmint keys list`.")],
    overlap: Annotated[
        str, typer.Option("--overlap", help="How long the old key keeps working, e.g. 24h, 0s.")
    ] = "24h",
    as_json: JsonOpt = False,
) -> None:
    """Replace a key: a new one with the same scopes; the old one expires after the overlap."""
    from modelmint import billing

    store = state(ctx).workspace().store
    key, rec = billing.rotate_key(store, key_id, overlap)
    tenant = next(t["name"] for t in store.billing.tenants() if t["id"] == rec["tenant_id"])
    _print_new_key(key, rec, tenant, as_json)
    if not as_json:
        console.print(f"the old key {key_id} stops working in {overlap}")


@keys.command("list")
def keys_list(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List keys (prefix only; the full key is never stored)."""
    store = state(ctx).workspace().store
    tid = store.billing.tenant(tenant)["id"] if tenant else None
    rows = [
        {
            "id": k["id"],
            "tenant": k["tenant"],
            "prefix": k["prefix"] + "…",
            "name": k["name"],
            "mode": k["mode"],
            "scenarios": k["scenarios"],
            "access": k["access"],
            "created_at": k["created_at"],
            "expires_at": k["expires_at"],
            "revoked_at": k["revoked_at"],
        }
        for k in store.billing.keys(tid)
    ]
    if as_json:
        print_json(rows)
        return
    console.print(
        table(
            None,
            ["id", "tenant", "prefix", "name", "mode", "scopes", "status"],
            [
                [
                    k["id"],
                    k["tenant"],
                    k["prefix"],
                    k["name"] or "",
                    k["mode"],
                    f"{k['access']}: {', '.join(k['scenarios']) if k['scenarios'] else 'all'}",
                    _key_status(k),
                ]
                for k in rows
            ],
        )
    )


alerts = typer.Typer(help="Quota and budget alerts (80% and 100%).", no_args_is_help=True)


@alerts.command("list")
def alerts_list(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts raised, with their webhook delivery state."""
    store = state(ctx).workspace().store
    tid = store.billing.tenant(tenant)["id"] if tenant else None
    rows = [
        {
            k: a[k]
            for k in (
                "id",
                "tenant",
                "period",
                "kind",
                "threshold",
                "used_units",
                "cap_units",
                "created_at",
                "status",
                "attempts",
                "last_error",
            )
        }
        for a in store.alerts.list(tid)
    ]
    if as_json:
        print_json(rows)
        return
    console.print(
        table(
            None,
            ["tenant", "period", "alert", "used / cap", "webhook", "raised"],
            [
                [
                    a["tenant"],
                    a["period"],
                    f"{a['kind']} {a['threshold']}%",
                    f"{a['used_units']} / {a['cap_units']}",
                    a["status"],
                    a["created_at"].strftime("%Y-%m-%d %H:%M"),
                ]
                for a in rows
            ],
        )
    )


def _key_status(k: dict) -> str:
    from datetime import UTC, datetime

    if k["revoked_at"]:
        return "revoked"
    if k["expires_at"] is not None:
        if k["expires_at"] <= datetime.now(UTC):
            return "expired"
        return f"expires {k['expires_at']:%Y-%m-%d %H:%M} UTC"
    return "active"


@keys.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="Key id from `modelmint keys list`.")],
) -> None:
    """Revoke a key; it stops working on the next request."""
    rec = state(ctx).workspace().store.billing.revoke_key(key_id)
    console.print(f"[green]revoked[/] key {rec['id']} ({rec['prefix']}…)")


def usage(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="YYYY-MM (default: this month).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Usage and the amount owed per tenant for a billing period."""
    from modelmint import billing

    rows = billing.usage_summary(state(ctx).workspace().store, period=period, tenant=tenant)
    if as_json:
        print_json(rows[0] if tenant else rows)
        return
    console.print(
        table(
            f"Usage {rows[0]['period'] if rows else period or ''}",
            ["tenant", "plan", "requests", "units", "test units", "quota", "amount due"],
            [
                [
                    r["tenant"],
                    r["plan"],
                    r["requests"],
                    r["total_units"],
                    r["test_units"],
                    r["quota"] if r["quota"] is not None else "unlimited",
                    f"{r['amount_due']} {r['currency']}",
                ]
                for r in rows
            ],
        )
    )
