"""The `modelmint` command. One module per command group, mirroring the flow."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from modelmint import __version__
from modelmint.cli import audit as audit_cmds
from modelmint.cli import billing as billing_cmds
from modelmint.cli import data as data_cmds
from modelmint.cli import demo as demo_cmds
from modelmint.cli import experiments as experiment_cmds
from modelmint.cli import insights as insight_cmds
from modelmint.cli import invoices as invoice_cmds
from modelmint.cli import models as model_cmds
from modelmint.cli import monitor as monitor_cmds
from modelmint.cli import policy as policy_cmds
from modelmint.cli import scout as scout_cmds
from modelmint.cli import serve as serve_cmds
from modelmint.cli import train as train_cmds
from modelmint.cli import users as user_cmds
from modelmint.cli._common import State, err_console, setup_logging
from modelmint.errors import ModelMintError

app = typer.Typer(
    name="modelmint",
    help="Turn a pretrained model into a paid API that keeps improving itself.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelmint {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="MODELMINT_HOME",
            help="Workspace directory (database, datasets, models).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """ModelMint: data -> train -> evaluate -> registry -> serve/meter/bill -> feedback -> retrain."""
    ctx.obj = State(home=home, debug=debug)
    setup_logging("DEBUG" if debug else "WARNING")


app.add_typer(data_cmds.app, name="data")
app.add_typer(model_cmds.app, name="models")
app.add_typer(billing_cmds.plans, name="plans")
app.add_typer(billing_cmds.tenants, name="tenants")
app.add_typer(billing_cmds.keys, name="keys")
app.add_typer(invoice_cmds.app, name="invoices")
app.add_typer(billing_cmds.alerts, name="alerts")
app.add_typer(experiment_cmds.app, name="experiments")
app.add_typer(policy_cmds.app, name="policy")
app.add_typer(scout_cmds.app, name="scout")
app.add_typer(insight_cmds.app, name="insights")
app.add_typer(insight_cmds.fx_app, name="fx")
app.add_typer(audit_cmds.app, name="audit")
app.add_typer(user_cmds.app, name="users")
app.command("usage")(billing_cmds.usage)
app.command("train")(train_cmds.train)
app.command("eval")(train_cmds.eval_cmd)
app.command("retrain")(train_cmds.retrain)
app.command("monitor")(monitor_cmds.monitor)
app.command("serve")(serve_cmds.serve)
app.command("worker")(serve_cmds.worker)
app.command("demo")(demo_cmds.demo)


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors become one red line naming the fix, and a non-zero exit code.

    Usage errors (unknown command, missing option) are Typer's own, printed with the usage."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        app(args=args, prog_name="modelmint")  # standalone: Typer exits via SystemExit
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ModelMintError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("[red]aborted[/]")
        return 130
    except Exception as exc:
        if debug:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc} - rerun with --debug for "
            "the traceback, and report it",
            highlight=False,
            soft_wrap=True,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
