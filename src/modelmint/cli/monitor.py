"""`modelmint monitor SCENARIO`: the production version's traffic over a window against its
reference (input and output drift, quality once feedback arrives, outcomes per version)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from modelmint.cli._common import JsonOpt, console, print_json, state, table
from modelmint.errors import InvalidInput

STATE_STYLE = {"alert": "[red]alert[/red]", "ok": "[green]ok[/green]"}


def parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        since = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--since '{text[:40]}' is not a date; use ISO 8601, e.g. 2026-12-01 or "
            "2026-12-01T09:00"
        ) from None
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    if since > datetime.now(UTC):
        raise InvalidInput(f"--since {text} is in the future; give a past time")
    return since


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def monitor(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Argument(help="The scenario (its production version).")],
    window: Annotated[
        str,
        typer.Option(
            "--window",
            help="A duration (30m, 1h, 1d; 1m to 366d) or the last N predictions "
            "(10 to 10,000,000).",
        ),
    ] = "1d",
    since: Annotated[
        str | None,
        typer.Option("--since", help="Start of the window (ISO 8601; UTC without an offset)."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report with charts here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Drift, quality and business outcomes of a scenario's traffic; see docs/monitoring.md."""
    from modelmint import monitor as mon

    spec = mon.parse_window(window, parse_since(since))
    ws = state(ctx).workspace()
    report = mon.monitor_report(ws.store, ws.settings, scenario, spec, series=html is not None)
    if html is not None:
        from modelmint.monitor.html import render

        html.write_text(render(report), encoding="utf-8")
    if as_json:
        print_json(report)
        return
    show(report)
    if html is not None:
        console.print(f"report with charts: {html}")


def show(report: dict[str, Any]) -> None:
    w = report["window"]
    console.print(
        f"[bold]{report['scenario']}:{report['version']}[/bold] window {w.get('spec')}: "
        f"{w['predictions']} predictions ({w['of_version']} by the production version)"
    )
    if report.get("note"):
        console.print(f"[yellow]{report['note']}[/yellow]")
    console.print(
        table(
            "Signals",
            ["signal", "state", "value", "threshold", "n"],
            [
                [
                    name,
                    STATE_STYLE.get(s["state"], s["state"]),
                    _fmt(s["value"]),
                    _fmt(s["threshold"]),
                    s["n"],
                ]
                for name, s in report["signals"].items()
            ],
        )
    )
    inputs = report.get("inputs") or {}
    columns = inputs.get("columns") or {}
    if columns:
        console.print(
            table(
                "Inputs",
                ["column", "test", "statistic", "threshold", "drifted"],
                [
                    [n, c["method"], _fmt(c["statistic"]), _fmt(c["threshold"]), c["drifted"]]
                    for n, c in columns.items()
                ],
            )
        )
    emb = inputs.get("embedding")
    if emb:
        console.print(
            f"embeddings: domain-classifier AUC {_fmt(emb['statistic'])} "
            f"(threshold {_fmt(emb['threshold'])}), "
            f"{_fmt(emb['drifted_components_share'])} of components drifted"
        )
    q = report.get("quality") or {}
    if q.get("labelled"):
        main = "accuracy" if "accuracy" in q else "mae"
        test = q.get(f"test_{main}")
        console.print(
            f"quality on {q['labelled']} labelled predictions: {main} {_fmt(q[main])} "
            f"(95% {_fmt(q['interval'][0])}-{_fmt(q['interval'][1])}); frozen test "
            f"{_fmt(test)}"
        )
    for event, per in (report.get("business") or {}).items():
        for version, v in per.items():
            console.print(
                f"outcome {event} on v{version}: {v['with_event']}/{v['calls']} calls "
                f"({_fmt(v['rate'])}, 95% {v['interval'][0]:.3f}-{v['interval'][1]:.3f}), "
                f"value per call {_fmt(v['value_per_call'])}"
            )
