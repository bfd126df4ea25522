"""`modelmint demo`: the whole loop on real data, in a fresh home, in a few minutes.

``run.run_demo`` reads top to bottom: each step in ``steps`` does one stage and returns a typed
value, ``show`` prints it, and the values come back in a ``DemoResult`` for tests to check.
``api`` runs the server process and its HTTP clients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelmint.cli._common import state
from modelmint.cli.demo.result import DemoResult
from modelmint.cli.demo.run import run_demo


def demo(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option("--home", help="Fresh demo directory (default ./modelmint-demo).")
    ] = None,
    sample: Annotated[
        int,
        typer.Option(
            "--sample", min=100, help="Reviews in the demo's sample (train+validation+test)."
        ),
    ] = 6000,
    traffic: Annotated[
        int, typer.Option("--traffic", min=10, help="Simulated API calls with held-out reviews.")
    ] = 400,
    feedback_share: Annotated[
        float,
        typer.Option(
            "--feedback-share", min=0.0, max=1.0, help="Share of calls that get feedback."
        ),
    ] = 0.6,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for the sample and the simulated traffic.")
    ] = 0,
) -> None:
    """Run the whole loop: data -> train -> evaluate -> serve -> traffic -> retrain -> summary."""
    home = (home or state(ctx).home or Path("modelmint-demo")).expanduser().resolve()
    run_demo(home, sample=sample, traffic=traffic, feedback_share=feedback_share, seed=seed)


__all__ = ["DemoResult", "demo", "run_demo"]
