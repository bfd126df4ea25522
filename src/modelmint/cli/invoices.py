"""`modelmint invoices close|list|show|credit|preview|export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from modelmint.cli._common import JsonOpt, console, print_json, state, table

app = typer.Typer(
    help="Invoices: close a period, list, show (JSON, CSV, printable HTML), credit notes.",
    no_args_is_help=True,
)


def _tenants(store) -> dict[int, dict]:
    return {t["id"]: t for t in store.billing.tenants()}


@app.command("close")
def close(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="YYYY-MM, a month that has ended.")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue each tenant's invoice for a period (again: the ones already issued)."""
    from modelmint.billing import invoices

    st = state(ctx)
    store = st.workspace().store
    done = invoices.close_period(
        store, period, tenant=tenant, tax_rate=st.settings().tax_rate_percent
    )
    names = _tenants(store)
    rows = [invoices.public(inv, names[inv["tenant_id"]]["name"]) for inv, _ in done]
    if as_json:
        print_json([{**r, "created": created} for r, (_, created) in zip(rows, done, strict=True)])
        return
    console.print(
        table(
            f"Invoices for {period}",
            ["number", "tenant", "total", "status"],
            [
                [
                    r["number"],
                    r["tenant"],
                    f"{r['total']} {r['currency']}",
                    "issued" if c else "already issued",
                ]
                for r, (_, c) in zip(rows, done, strict=True)
            ],
        )
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    period: Annotated[str | None, typer.Option("--period", help="Only this YYYY-MM.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issued invoices and credit notes."""
    from modelmint.billing import invoices

    store = state(ctx).workspace().store
    names = _tenants(store)
    tid = store.billing.tenant(tenant)["id"] if tenant else None
    rows = [
        invoices.public(inv, names[inv["tenant_id"]]["name"])
        for inv in store.invoices.list(tid, period)
    ]
    if as_json:
        print_json(rows)
        return
    console.print(
        table(
            None,
            ["number", "kind", "tenant", "period", "total", "issued"],
            [
                [
                    r["number"],
                    r["kind"],
                    r["tenant"],
                    r["period"],
                    f"{r['total']} {r['currency']}",
                    r["issued_at"][:10],
                ]
                for r in rows
            ],
        )
    )


@app.command("show")
def show(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="Invoice or credit note number.")],
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="The export rows as CSV.")] = False,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write a printable HTML invoice here.")
    ] = None,
) -> None:
    """One invoice: lines and totals."""
    from modelmint.billing import invoices

    store = state(ctx).workspace().store
    inv = store.invoices.get(number)
    tenant = _tenants(store)[inv["tenant_id"]]
    if html_out is not None:
        html_out.write_text(invoices.to_html(inv, tenant), encoding="utf-8")
        console.print(f"wrote {html_out}")
        return
    if as_csv:
        typer.echo(invoices.to_csv(invoices.export_rows(inv, tenant)), nl=False)
        return
    p = invoices.public(inv, tenant["name"])
    if as_json:
        print_json(p)
        return
    print_invoice(p)


def print_invoice(p: dict, title: str | None = None) -> None:
    """An invoice (public shape) as a table: lines, then the totals."""
    console.print(
        table(
            title or f"{p['kind'].replace('_', ' ')} {p['number']} · {p['tenant']} · {p['period']}",
            ["item", "units", "included", "price per 1k", "amount"],
            [
                [
                    line["description"],
                    f"{line['quantity']:,}" if "quantity" in line else "",
                    f"{line['included_units']:,}" if line.get("included_units") else "",
                    line.get("unit_price_per_1k", "tiered" if line.get("tiered") else ""),
                    line["amount"],
                ]
                for line in p["lines"]
            ]
            + [
                ["subtotal", "", "", "", p["subtotal"]],
                [
                    "discount",
                    "",
                    "",
                    "",
                    f"-{p['discount']}" if p["discount"] != "0.00" else "0.00",
                ],
                [f"tax {p['tax_rate_percent']}%", "", "", "", p["tax"]],
                [f"total {p['currency']}", "", "", "", p["total"]],
            ],
            numbers=4,
        )
    )


@app.command("preview")
def preview(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant name.")],
    period: Annotated[
        str | None, typer.Option("--period", help="YYYY-MM (default: this month).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The invoice a period would get, not issued (works while the period is still open)."""
    from modelmint.billing import invoices

    st = state(ctx)
    p = invoices.preview(
        st.workspace().store, tenant, period=period, tax_rate=st.settings().tax_rate_percent
    )
    if as_json:
        print_json(p)
        return
    print_invoice(p)


@app.command("credit")
def credit(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The invoice to credit.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount including tax, e.g. 5.00.")],
    reason: Annotated[str, typer.Option("--reason", help="Printed on the credit note.")],
    as_json: JsonOpt = False,
) -> None:
    """Issue a credit note: invoices are never changed once issued."""
    from modelmint.billing import invoices

    store = state(ctx).workspace().store
    cn = invoices.credit_note(store, number, amount=amount, reason=reason)
    p = invoices.public(cn, _tenants(store)[cn["tenant_id"]]["name"])
    if as_json:
        print_json(p)
        return
    console.print(f"[green]credit note {p['number']}[/] for {number}: {p['total']} {p['currency']}")


@app.command("export")
def export(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option("--period", help="Only this YYYY-MM.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
) -> None:
    """Every issued invoice and credit note as rows for an external billing system (one row per
    line; the fields are documented in docs/billing.md)."""
    from modelmint.billing import invoices
    from modelmint.errors import InvalidInput

    if fmt not in ("csv", "jsonl"):
        raise InvalidInput(f"--format must be csv or jsonl, not '{fmt}'")
    store = state(ctx).workspace().store
    names = _tenants(store)
    rows = [
        row
        for inv in store.invoices.list(None, period)
        for row in invoices.export_rows(inv, names[inv["tenant_id"]])
    ]
    if fmt == "csv":
        typer.echo(invoices.to_csv(rows), nl=False)
    else:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
