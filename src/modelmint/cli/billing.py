"""`modelmint plans|tenants|keys` and `modelmint usage`."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, get_type_hints

import typer

from modelmint.billing.plans import UNSETTABLE, PlanSpec, plan_fields
from modelmint.cli._common import JsonOpt, console, print_json, state, table

plans = typer.Typer(
    help="Price plans: price per 1,000 units, monthly quota, rate limit.", no_args_is_help=True
)
tenants = typer.Typer(
    help="Tenants: the customer organisations that call the API.", no_args_is_help=True
)
keys = typer.Typer(help="API keys: shown once, stored hashed, revocable.", no_args_is_help=True)


def plan_options(*, updatable: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command one option per `billing.PlanSpec` field, where its `spec` parameter
    stands, each with the field's help (meaning, unit, range); the command is called with the
    PlanSpec they make. ``updatable``: only the fields a new plan version may change. Adding a
    plan option is adding a PlanSpec field: the commands follow."""
    fields = plan_fields(updatable=updatable)

    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        hints = get_type_hints(command, include_extras=True)
        sig = inspect.signature(command)
        options = [
            inspect.Parameter(
                f.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=None,
                annotation=Annotated[f.type, typer.Option(f.option, help=f.help)],
            )
            for f in fields
        ]
        params: list[inspect.Parameter] = []
        for p in sig.parameters.values():
            if p.name == "spec":
                params += options
            else:
                params.append(p.replace(annotation=hints.get(p.name, p.annotation)))

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> None:
            spec = PlanSpec(**{f.name: kwargs.pop(f.name, None) for f in fields})
            command(*args, spec=spec, **kwargs)

        run.__signature__ = sig.replace(parameters=params)  # what typer reads
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return wrap


@plans.command("create")
@plan_options(updatable=False)
def plans_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Plan name, e.g. starter.")],
    spec: PlanSpec,
    as_json: JsonOpt = False,
) -> None:
    """Create a plan (version 1). Money is parsed as a decimal and stored as integer micros.

    Free tier: --price-per-1k 0 --quota 1000. Subscription: --fee 49.00 --included 100000
    --price-per-1k 1.00 (the overage price). Tiers: --tier 100000=2.00 --tier inf=1.50."""
    from modelmint import billing

    st = state(ctx)
    spec = dataclasses.replace(spec, currency=spec.currency or st.settings().currency)
    p = billing.create_plan(st.workspace().store, name, spec)
    _print_plan(billing.plan_public(p), as_json)


def _print_plan(pp: dict, as_json: bool, moved: list[str] | None = None) -> None:
    if as_json:
        print_json(pp if moved is None else {**pp, "tenants_moved": moved})
        return
    quota = f"{pp['quota']:,}" if pp["quota"] is not None else "unlimited"
    console.print(
        f"[green]plan {pp['name']} v{pp['version']}[/] ({pp['currency']}): {pp['pricing']}; "
        f"quota {quota}/month" + (f"; {pp['trial_days']}-day trial" if pp["trial_days"] else "")
    )
    if moved:
        console.print(f"moved to v{pp['version']} now (prorated): {', '.join(moved)}")


@plans.command("update")
@plan_options(updatable=True)
def plans_update(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Plan name.")],
    spec: PlanSpec,
    unset: Annotated[
        list[str] | None,
        typer.Option(
            "--unset",
            help=f"Clear a setting (repeat): {', '.join(UNSETTABLE)}, e.g. --unset quota.",
        ),
    ] = None,
    move_tenants: Annotated[
        bool,
        typer.Option(
            "--move-tenants", help="Move tenants on older versions to this one now (prorated)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """A new version of a plan, with the options given changed. Tenants keep the version they
    are on (grandfathered) unless --move-tenants; new tenants get the newest version."""
    from modelmint import billing

    p, moved = billing.update_plan(
        state(ctx).workspace().store, name, spec, unset=unset, move_tenants=move_tenants
    )
    _print_plan(billing.plan_public(p), as_json, moved)


def _plan_table(rows: list[dict]) -> None:
    console.print(
        table(
            None,
            ["plan", "version", "pricing", "quota / month", "rate limit", "trial"],
            [
                [
                    p["name"],
                    f"v{p['version']}",
                    f"{p['pricing']} ({p['currency']})",
                    f"{p['quota']:,}" if p["quota"] is not None else "unlimited",
                    f"{p['rate_limit']:g}/s" if p["rate_limit"] else "none",
                    f"{p['trial_days']} days" if p["trial_days"] else "",
                ]
                for p in rows
            ],
        )
    )


@plans.command("list")
def plans_list(
    ctx: typer.Context,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Every version, not just the newest.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List plans (newest version of each)."""
    from modelmint import billing

    store = state(ctx).workspace().store
    rows = [billing.plan_public(p) for p in store.billing.plans(latest=not all_versions)]
    if as_json:
        print_json(rows)
    else:
        _plan_table(rows)


@plans.command("show")
def plans_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Plan name.")],
    as_json: JsonOpt = False,
) -> None:
    """Every version of a plan, with the tenants on each."""
    from modelmint import billing

    store = state(ctx).workspace().store
    store.billing.plan(name)  # NotFound with the fix
    versions = store.billing.plans(name)
    on = store.billing.tenants_on([p["id"] for p in versions])
    rows = [
        {
            **billing.plan_public(p),
            "tenants": sorted(t["name"] for t in on if t["plan_id"] == p["id"]),
        }
        for p in versions
    ]
    if as_json:
        print_json(rows)
        return
    _plan_table(rows)
    for r in rows:
        if r["tenants"]:
            console.print(f"v{r['version']}: {', '.join(r['tenants'])}")


@tenants.command("create")
def tenants_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Tenant name, e.g. acme.")],
    plan: Annotated[str, typer.Option("--plan", help="Plan name (newest version) or NAME@V.")],
    status: Annotated[
        str | None,
        typer.Option("--status", help="trial or active (default: trial if the plan has one)."),
    ] = None,
    trial_days: Annotated[
        int | None, typer.Option("--trial-days", help="Trial length, overriding the plan's.")
    ] = None,
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

    st = state(ctx)
    t = billing.create_tenant(
        st.workspace().store,
        name,
        plan=plan,
        status=status,
        currency=currency,
        contact_name=contact_name,
        contact_email=contact_email,
        discount_percent=discount,
        webhook_url=webhook_url,
        trial_days=trial_days,
        settings=st.settings(),
    )
    out = {
        "name": t["name"],
        "plan": plan,
        "status": t["status"],
        "currency": t["currency"],
        "trial_ends_at": t["trial_ends_at"],
    }
    if t["webhook_secret"]:
        out["webhook_secret"] = t["webhook_secret"]
    if as_json:
        print_json(out)
    else:
        trial = f" until {t['trial_ends_at']:%Y-%m-%d}" if t["trial_ends_at"] else ""
        console.print(
            f"[green]tenant {name}[/] on plan {plan} ({t['status']}{trial}, {t['currency']}); "
            f"next: modelmint keys create --tenant {name}"
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
    """Make a trial or suspended tenant active (ends a trial now: usage is billed from here)."""
    _set_status(ctx, name, "active")


@tenants.command("change-plan")
def tenants_change_plan(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Tenant name.")],
    plan: Annotated[str, typer.Option("--plan", help="Plan name (newest version) or NAME@V.")],
    as_json: JsonOpt = False,
) -> None:
    """Move a tenant to another plan now. This month's invoice prorates the fees and included
    units of both plans and prices each unit by the plan in force when it was used."""
    from modelmint import billing

    out = billing.change_plan(state(ctx).workspace().store, name, plan)
    if as_json:
        print_json(out)
    else:
        console.print(
            f"tenant {name} is now on plan {out['plan']} v{out['version']} (this month prorated)"
        )


@tenants.command("list")
def tenants_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List tenants."""
    rows = [
        {
            "name": t["name"],
            "plan": t["plan"],
            "plan_version": t["plan_version"],
            "status": t["status"],
            "trial_ends_at": t["trial_ends_at"],
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
                    f"{t['plan']} v{t['plan_version']}",
                    t["status"]
                    + (f" to {t['trial_ends_at']:%Y-%m-%d}" if t["trial_ends_at"] else ""),
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
        str | None,
        typer.Option("--expires-in", help="Expiry, 1m to 3650d, e.g. 90d (default never)."),
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


alerts = typer.Typer(
    help="Quota and budget alerts (80% and 100%), and monitoring alerts.", no_args_is_help=True
)


@alerts.command("list")
def alerts_list(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    monitoring: Annotated[
        bool,
        typer.Option("--monitoring", help="Monitoring alerts (drift, quality) instead."),
    ] = False,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="With --monitoring: only this scenario.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts raised, with their webhook delivery state."""
    store = state(ctx).workspace().store
    if monitoring:
        monitoring_alerts(store.monitoring.alerts(scenario), as_json)
        return
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


def monitoring_alerts(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no monitoring alerts (the worker evaluates every scenario on a schedule)")
        return
    console.print(
        table(
            None,
            ["scenario", "signal", "state", "value / threshold", "raised", "cleared", "webhook"],
            [
                [
                    f"{a['scenario']}:{a['model_version']}",
                    a["signal"],
                    a["state"],
                    f"{a['details']['signal']['value']} / {a['details']['signal']['threshold']}",
                    a["raised_at"].strftime("%Y-%m-%d %H:%M"),
                    a["cleared_at"].strftime("%Y-%m-%d %H:%M") if a["cleared_at"] else "-",
                    a["delivery"],
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
    from modelmint import billing

    rec = billing.revoke_key(state(ctx).workspace().store, key_id)
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
