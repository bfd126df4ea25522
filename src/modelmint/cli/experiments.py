"""`modelmint experiments start|show|stop`: a challenger against production (shadow, split or
bandit), its statistics, and the promotion gate on quality and on the business metric."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from modelmint.cli._common import JsonOpt, console, print_json, progress_ui, state, table

app = typer.Typer(
    help="Experiments between production and a challenger: shadow, split, bandit.",
    no_args_is_help=True,
)

Scenario = Annotated[str, typer.Argument(help="The scenario.")]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and len(v) == 2:
        return f"{_fmt(v[0])} to {_fmt(v[1])}"
    return "-" if v is None else str(v)


@app.command("start")
def start(
    ctx: typer.Context,
    scenario: Scenario,
    challenger: Annotated[
        str, typer.Option("--challenger", help="NAME:VERSION of the challenger.")
    ],
    mode: Annotated[
        str, typer.Option("--mode", help="shadow, split or bandit.", case_sensitive=False)
    ],
    traffic: Annotated[
        float | None,
        typer.Option(
            "--traffic",
            help="Percent: the challenger's share of calls (split, 1-99, default 10), or of "
            "calls it scores in the shadow (1-100, default 100). A bandit sets its own.",
        ),
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="The outcome event judged on (e.g. converted).")
    ] = None,
    value: Annotated[
        bool, typer.Option("--value", help="Judge on the outcome's value per call, not its rate.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start an experiment (one per scenario); running servers pick it up within their alias
    refresh (1 s by default)."""
    from modelmint import experiments

    store = state(ctx).workspace().store
    exp = experiments.start(
        store,
        scenario,
        challenger,
        mode.lower(),
        now=datetime.now(UTC),
        traffic=traffic,
        metric=metric,
        on_value=value,
    )
    out = experiments.summary(store, exp)
    if as_json:
        print_json(out)
        return
    console.print(
        f"experiment {out['id']} started: {out['challenger']} vs {out['production']}, "
        f"{out['mode']} at {out['share']:.0%}" + (f", judged on {metric}" if metric else "")
    )


@app.command("show")
def show(ctx: typer.Context, scenario: Scenario, as_json: JsonOpt = False) -> None:
    """The latest experiment of a scenario with every statistic."""
    from modelmint import experiments

    store = state(ctx).workspace().store
    out = experiments.summary(store, experiments.current(store, scenario))
    if as_json:
        print_json(out)
        return
    render(out)


def render(out: dict[str, Any]) -> None:
    console.print(
        f"[bold]{out['challenger']}[/bold] vs {out['production']}: {out['mode']}, "
        f"{out['status']} since {out['started_at'][:16]}, challenger share {out['share']:.0%}"
    )
    if "shadow" in out:
        s = out["shadow"]
        console.print(
            f"shadow: {s['pairs']} inputs scored by both, agreement {_fmt(s['agreement'])}; "
            f"on {s['labelled']} with feedback: production {_fmt(s['production_accuracy'])}, "
            f"challenger {_fmt(s['challenger_accuracy'])}"
        )
        cost = s["cost"]
        if cost["measured_pairs"]:
            rel = cost["relative_to_production"]
            console.print(
                f"shadow cost: {cost['challenger_compute_seconds']:.3f} s of compute "
                f"({cost['challenger_ms_per_call']:.2f} ms per call"
                + (f", {rel:.2f}× production's" if rel is not None else "")
                + "), never billed"
            )
    rows = []
    for what in ("rate", "value"):
        c = out.get(what)
        if not c:
            continue
        for arm in ("production", "challenger"):
            a = c[arm]
            rows.append(
                [
                    what,
                    arm,
                    a["calls"],
                    _fmt(a.get("rate", a.get("value_per_call"))),
                    _fmt(a["interval"]),
                ]
            )
        rows.append(
            [
                what,
                "difference",
                "",
                _fmt(c.get("difference")),
                f"{_fmt(c.get('interval'))} (p {_fmt(c.get('p_value'))}); always-valid "
                f"{_fmt(c.get('always_valid_interval'))}",
            ]
        )
    if rows:
        console.print(table(out.get("metric"), ["figure", "arm", "calls", "value", "95%"], rows))
    if "rate" in out and out["rate"].get("difference") is not None:
        r = out["rate"]
        console.print(
            f"P(challenger better) {r['probability_challenger_better']:.3f}, expected loss "
            f"{r['expected_loss_challenger']:.4g}"
        )
    if "sample_ratio" in out:
        srm = out["sample_ratio"]
        flag = "[red]MISMATCH[/red]" if srm["mismatch"] else "ok"
        console.print(
            f"sample ratio: {_fmt(srm['observed_share'])} observed vs "
            f"{_fmt(srm['expected_share'])} planned (p {_fmt(srm['p_value'])}) {flag}"
        )
    if out.get("verdict"):
        console.print(f"verdict: {out['verdict']['reason']}")
    gate = (out.get("decision") or {}).get("gate")
    if gate:
        console.print(f"gate: {gate['reason']}")


@app.command("stop")
def stop(
    ctx: typer.Context,
    scenario: Scenario,
    promote: Annotated[
        bool,
        typer.Option(
            "--promote/--keep",
            help="Run the promotion gate and promote the challenger if it passes (exit 8 if "
            "not), or keep production.",
        ),
    ] = False,
    margin: Annotated[
        float | None,
        typer.Option(
            "--margin",
            min=0.0,
            max=0.2,
            help="Non-inferiority margin (0 to 0.2) for the quality half of the gate, when the "
            "business metric is the point.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop the running experiment."""
    from modelmint.errors import GateRejected
    from modelmint.pipeline import stop_experiment

    ws = state(ctx).workspace()
    with progress_ui(not as_json) as progress:
        out = stop_experiment(ws, scenario, promote=promote, margin=margin, progress=progress)
    if as_json:
        print_json(out)
    else:
        render(out)
    gate = (out.get("decision") or {}).get("gate")
    if gate and not gate["promote"]:
        raise GateRejected(
            f"{out['challenger']} was not promoted ({gate['reason']}); production stays "
            f"{out['production']} and {out['challenger']} is the candidate"
        )
    if gate:
        console.print(f"production is now {out['challenger']}")
