"""`modelmint policy set|show`: when the worker retrains a scenario, and what happens to the
candidate (see experiments/policy.py and docs/monitoring.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from modelmint.cli._common import JsonOpt, console, print_json, state

app = typer.Typer(help="Retraining policies: triggers and challengers.", no_args_is_help=True)


@app.command("set")
def set_(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Argument(help="The scenario.")],
    retrain_every: Annotated[
        str | None, typer.Option("--retrain-every", help="Retrain this often: 1h to 365d.")
    ] = None,
    retrain_on_drift: Annotated[
        bool, typer.Option("--retrain-on-drift", help="Retrain when input drift is alerted.")
    ] = False,
    retrain_after_labels: Annotated[
        int | None,
        typer.Option(
            "--retrain-after-labels", help="Retrain after this many new feedback labels (1+)."
        ),
    ] = None,
    challenger: Annotated[
        str | None,
        typer.Option(
            "--challenger",
            help="shadow, split:PCT or bandit: a candidate that passes the quality gate "
            "challenges production there first.",
        ),
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="The outcome event the experiment is judged on.")
    ] = None,
    auto_promote: Annotated[
        bool,
        typer.Option(
            "--auto-promote", help="Stop the experiment with the full gate once it has a verdict."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Set (replace) the scenario's retraining policy; the worker applies it each minute."""
    from modelmint.experiments.policy import PolicySpec, set_policy

    spec = PolicySpec(
        retrain_every=retrain_every,
        retrain_on_drift=retrain_on_drift,
        retrain_after_labels=retrain_after_labels,
        challenger=challenger,
        metric=metric,
        auto_promote=auto_promote,
    )
    out = set_policy(state(ctx).workspace().store, scenario, spec, datetime.now(UTC))
    if as_json:
        print_json(out)
        return
    show_policy(out)


@app.command("show")
def show(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Argument(help="The scenario.")],
    as_json: JsonOpt = False,
) -> None:
    """The scenario's policy and its last run (when and why)."""
    from modelmint.experiments.policy import get_policy

    out = get_policy(state(ctx).workspace().store, scenario)
    if as_json:
        print_json(out)
        return
    show_policy(out)


def show_policy(p: dict) -> None:
    triggers = [
        f"every {p['retrain_every']}" if p["retrain_every"] else None,
        "on input drift" if p["retrain_on_drift"] else None,
        f"after {p['retrain_after_labels']} new labels" if p["retrain_after_labels"] else None,
    ]
    shown = ", ".join(t for t in triggers if t) or "none (the policy only sets the challenger)"
    console.print(f"[bold]{p['scenario']}[/bold] retrains: {shown}")
    if p["challenger"]:
        console.print(
            f"a candidate that passes the quality gate challenges production: {p['challenger']}"
            + (f", judged on {p['metric']}" if p["metric"] else "")
            + (", promoted by the gate once the verdict is in" if p["auto_promote"] else "")
        )
    else:
        console.print("a candidate is promoted when it passes the gate")
    if p["last_run_at"]:
        console.print(
            f"last run {p['last_run_at'][:16]}: {p['last_trigger']} (job {p['last_job']})"
        )
