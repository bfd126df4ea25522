"""`modelmint insights funnel|revenue|costs|margin|experiments` and `modelmint fx set|list`:
what each scenario, tenant, plan and model version earns, costs and converts (docs/insights.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelmint.cli._common import JsonOpt, console, print_json, state, table

app = typer.Typer(
    help="Business insights: funnel, revenue, cost to serve, margin, versions side by side.",
    no_args_is_help=True,
)
fx_app = typer.Typer(
    help="Dated exchange rates for insights in one currency.", no_args_is_help=True
)

ByOpt = Annotated[str, typer.Option("--by", help="Group by scenario, tenant, version or plan.")]
PeriodOpt = Annotated[
    str | None, typer.Option("--period", help="One billing period, YYYY-MM (default: this one).")
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="First day, YYYY-MM-DD (money reports round to whole months)."),
]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Last day, YYYY-MM-DD (included).")]
CurrencyOpt = Annotated[
    str | None,
    typer.Option("--currency", help="Convert every amount to this currency (needs `fx set`)."),
]
HtmlOpt = Annotated[
    Path | None, typer.Option("--html", help="Also write the report with charts here.")
]

COLUMNS = {
    "revenue": ["currency", "issued", "draft", "revenue", "calls", "units"],
    "costs": [
        "currency",
        "calls",
        "compute_seconds",
        "core_seconds",
        "serving",
        "experiment",
        "storage",
        "fixed",
        "cost",
        "per_1k_calls",
    ],
    "margin": ["currency", "calls", "revenue", "cost", "margin", "margin_pct"],
    "funnel": [
        "created",
        "first_call",
        "active",
        "paid",
        "conversion",
        "median_days_created_to_first_call",
    ],
}


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _out(report: dict[str, Any], as_json: bool, html: Path | None) -> None:
    if html is not None:
        from modelmint.insights.html import render

        html.write_text(render(report), encoding="utf-8")
    if as_json:
        print_json(report)
        return
    kind, by = report["report"], report.get("by")
    span = report["span"]
    console.print(
        f"[bold]{kind}[/bold] · {span['label']}"
        + (f" · by {by}" if by else "")
        + (f" · converted to {report['currency']}" if report.get("converted") else "")
    )
    if kind == "experiments":
        cols = ["calls", "revenue", "serving", "experiment", "margin", "margin_per_1k_calls"]
        rows = []
        for r in report["rows"]:
            events = "; ".join(
                f"{e} {fmt(o['rate'])} (value/call {fmt(o['value_per_call'])})"
                for e, o in r["outcomes"].items()
            )
            rows.append([f"{r['scenario']}:{r['version']}", *(fmt(r[c]) for c in cols), events])
        console.print(table(None, ["version", *cols, "outcomes"], rows))
        for e in report["experiments"]:
            console.print(
                f"experiment {e['id']} on {e['scenario']}: {e['mode']}, {e['status']}, "
                f"v{e['production_version']} vs v{e['challenger_version']}"
            )
    else:
        cols = COLUMNS[kind]
        rows = [[fmt(r[by]), *(fmt(r.get(c)) for c in cols)] for r in report["rows"]]
        if not rows:
            console.print("[dim]nothing in this span[/dim]")
        else:
            console.print(table(None, [by, *cols], rows, numbers=len(cols)))
        if kind == "funnel" and report["trials"]:
            console.print(
                table(
                    "trial -> paid",
                    ["plan", "trials", "ended", "paid", "trial_to_paid"],
                    [
                        [fmt(t[c]) for c in ("plan", "trials", "ended", "paid", "trial_to_paid")]
                        for t in report["trials"]
                    ],
                )
            )
    for n in report.get("notes") or []:
        console.print(f"[dim]{n}[/dim]")
    if html is not None:
        console.print(f"report with charts: {html}")


def _run(ctx: typer.Context, kind: str, **options: Any) -> dict[str, Any]:
    from modelmint import insights

    ws = state(ctx).workspace()
    return insights.REPORTS[kind](ws.store, ws.settings, **options)


def _money_command(kind: str, doc: str) -> None:
    """`insights revenue|costs|margin`: one signature, one report each."""

    def command(
        ctx: typer.Context,
        by: ByOpt = "scenario",
        period: PeriodOpt = None,
        since: SinceOpt = None,
        until: UntilOpt = None,
        currency: CurrencyOpt = None,
        html: HtmlOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        r = _run(ctx, kind, by=by, period=period, since=since, until=until, currency=currency)
        _out(r, as_json, html)

    command.__doc__ = doc
    app.command(kind)(command)


for _kind, _doc in (
    (
        "revenue",
        "Issued invoices (net of credit notes) and drafts, allocated by the units each served.",
    ),
    ("costs", "Measured cost to serve: compute seconds, their price, cost per 1,000 calls."),
    ("margin", "Revenue minus the cost to serve, and gross margin %."),
):
    _money_command(_kind, _doc)


@app.command("funnel")
def funnel(
    ctx: typer.Context,
    by: Annotated[str, typer.Option("--by", help="Group by plan or scenario.")] = "plan",
    period: Annotated[
        str | None, typer.Option("--period", help="Tenants created in this month, YYYY-MM.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Tenants created from this day (YYYY-MM-DD).")
    ] = None,
    until: UntilOpt = None,
    active_calls: Annotated[
        int | None,
        typer.Option(
            "--active-calls",
            min=1,
            max=1_000_000_000,
            help="Live calls in a month that make a tenant active (default MODELMINT_ACTIVE_CALLS).",
        ),
    ] = None,
    html: HtmlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tenant created -> first call -> active -> paid, with weekly cohorts and trial -> paid."""
    r = _run(
        ctx,
        "funnel",
        by=by,
        period=period,
        since=since,
        until=until,
        active_calls=active_calls,
    )
    _out(r, as_json, html)


@app.command("experiments")
def experiments(
    ctx: typer.Context,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Only this scenario's versions.")
    ] = None,
    period: PeriodOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    currency: CurrencyOpt = None,
    html: HtmlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Each model version's calls, revenue, cost, margin and outcome rates side by side."""
    r = _run(
        ctx,
        "experiments",
        scenario=scenario,
        period=period,
        since=since,
        until=until,
        currency=currency,
    )
    _out(r, as_json, html)


@fx_app.command("set")
def fx_set(
    ctx: typer.Context,
    base: Annotated[str, typer.Argument(help="Currency converted from, e.g. USD.")],
    quote: Annotated[str, typer.Argument(help="Currency converted to, e.g. CNY.")],
    rate: Annotated[str, typer.Argument(help="How much QUOTE one BASE buys, e.g. 7.12.")],
    date: Annotated[str, typer.Option("--date", help="From this day on, YYYY-MM-DD.")],
    as_json: JsonOpt = False,
) -> None:
    """Record 1 BASE = RATE QUOTE from --date on (until a later rate of the pair)."""
    from modelmint import insights

    out = insights.set_rate(state(ctx).workspace().store, base, quote, rate, date)
    if as_json:
        print_json(out)
        return
    console.print(f"1 {out['base']} = {out['rate']} {out['quote']} from {out['date']}")


@fx_app.command("list")
def fx_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The exchange rates on record."""
    from modelmint import insights

    rates = insights.list_rates(state(ctx).workspace().store)
    if as_json:
        print_json(rates)
        return
    if not rates:
        console.print("no rates; add one with `modelmint fx set USD CNY 7.12 --date 2026-11-01`")
        return
    console.print(
        table(
            None,
            ["base", "quote", "rate", "from"],
            [[r["base"], r["quote"], r["rate"], r["date"]] for r in rates],
        )
    )
