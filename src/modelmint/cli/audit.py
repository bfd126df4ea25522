"""`modelmint audit list|verify|checkpoint`: who did what, and proof that nobody rewrote it
(docs/security.md). Not to be confused with `modelmint data audit` (a dataset's quality)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from modelmint.cli._common import JsonOpt, console, err_console, print_json, state, table
from modelmint.errors import InvalidInput

app = typer.Typer(
    help="The audit trail of administrative actions: list, verify, checkpoint.",
    no_args_is_help=True,
)

BROKEN_EXIT = 10  # `audit verify` found a broken chain (documented in docs/cli.md)


@app.command("list")
def list_entries(
    ctx: typer.Context,
    actor: Annotated[
        str | None, typer.Option("--actor", help="e.g. cli:alice, token:admin (or a prefix: cli:)")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="e.g. tenant:acme, plan:pro (or a prefix: tenant:)"),
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="e.g. key.revoke (or a prefix: key.)")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this UTC day or time, YYYY-MM-DD[THH:MM].")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before this UTC day or time (excluded).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, max=10**12)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Entries, newest first (this read is itself recorded)."""
    from modelmint.audit import check_time

    ws = state(ctx).workspace()
    rows, total = ws.store.audit.read(
        actor=actor,
        target=target,
        action=action,
        since=check_time(since, "--since"),
        until=check_time(until, "--until"),
        limit=limit,
        offset=offset,
    )
    if as_json:
        print_json({"total": total, "entries": rows})
        return
    console.print(
        table(
            f"audit log: {len(rows)} of {total} (newest first)",
            ["#", "at (UTC)", "actor", "action", "target", "request"],
            [
                [r["seq"], r["at"][:19], r["actor"], r["action"], r["target"], r["request_id"]]
                for r in rows
            ],
        )
    )


@app.command("verify")
def verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            exists=True,
            dir_okay=False,
            help="A checkpoint from `audit checkpoint`: also finds newest entries cut off.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Walk the whole chain and name the first edited, deleted, reordered or inserted entry
    (exit 10 if there is one)."""
    cp = None
    if checkpoint is not None:
        try:
            cp = json.loads(checkpoint.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidInput(
                f"{checkpoint} is not JSON; pass a file written by `modelmint audit checkpoint`"
            ) from None
    ws = state(ctx).workspace()
    try:
        result = ws.store.audit.verify(cp)
    except ValueError as exc:
        raise InvalidInput(f"{checkpoint}: {exc}") from None
    if as_json:
        print_json(result.as_json())
    elif result.ok:
        tail = f", and it holds the checkpoint of {cp['at']} ({cp['count']} entries)" if cp else ""
        console.print(f"audit log intact: {result.entries:,} entries chained{tail}")
    else:
        assert result.problem is not None
        err_console.print(
            f"audit log BROKEN at entry {result.problem.seq}: {result.problem.message} "
            f"({result.entries:,} entries check out before it)"
        )
    if not result.ok:
        raise typer.Exit(BROKEN_EXIT)


@app.command("checkpoint")
def checkpoint(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", dir_okay=False, help="Write it here (default: print it)."),
    ] = None,
) -> None:
    """A signed checkpoint (entry count and head MAC): keep it away from the database, then
    `audit verify --checkpoint FILE` also finds a cut-off tail."""
    ws = state(ctx).workspace()
    cp = ws.store.audit.checkpoint()
    text = json.dumps(cp, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"checkpoint of {cp['count']:,} entries written to {out}; keep it elsewhere")
