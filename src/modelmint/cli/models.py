"""`modelmint models list|show|promote|rollback`."""

from __future__ import annotations

from typing import Annotated

import typer

from modelmint.cli._common import JsonOpt, console, print_json, state, table

app = typer.Typer(
    help="The model registry: name:version, aliases, promotion, rollback.", no_args_is_help=True
)


def _public(m) -> dict:
    return {
        "ref": m.ref,
        "name": m.name,
        "version": m.version,
        "aliases": list(m.aliases),
        "dataset": m.dataset,
        "base_model": m.base_model,
        "metrics": m.metrics,
        "checksum": m.checksum,
        "path": str(m.path),
    }


@app.command("list")
def list_(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this scenario.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registered models with their aliases and test metrics."""
    from modelmint import registry

    models = registry.list_models(state(ctx).workspace().store, name)
    if as_json:
        print_json([_public(m) for m in models])
        return
    if not models:
        console.print("no models yet: train one with `modelmint train DATASET`")
        return
    console.print(
        table(
            None,
            ["model", "aliases", "dataset", "base model", "test accuracy", "test macro F1"],
            [
                [
                    m.ref,
                    ", ".join(m.aliases),
                    m.dataset,
                    m.base_model,
                    f"{m.metrics['test']['accuracy']:.4f}",
                    f"{m.metrics['test']['macro_f1']:.4f}",
                ]
                for m in models
            ],
        )
    )


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME:VERSION or NAME:production.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one model: lineage, metrics, aliases and its promotion history."""
    from modelmint import registry

    ws = state(ctx).workspace()
    m = registry.get(ws.store, ref)
    row = ws.store.models.get(m.name, m.version)
    events = ws.store.models.events(m.name)
    data = {
        **_public(m),
        "train_config": row["train_config"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "events": events,
    }
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{m.ref}[/] {('(' + ', '.join(m.aliases) + ')') if m.aliases else ''}")
    for k in ("dataset", "base_model", "checksum", "path", "created_by", "created_at"):
        console.print(f"  {k:<11} {data[k]}")
    console.print(f"  test        {m.metrics.get('test')}")
    console.print(f"  config      {row['train_config']}")
    if events:
        console.print(
            table(
                "History",
                ["when", "alias", "action", "from", "to", "who", "why"],
                [
                    [
                        e["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
                        e["alias"],
                        e["action"],
                        e["from_version"],
                        e["to_version"],
                        e["actor"],
                        e["reason"],
                    ]
                    for e in events
                ],
            )
        )


@app.command("promote")
def promote(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME:VERSION to promote.")],
    alias: Annotated[str, typer.Option("--alias", help="production or candidate.")] = "production",
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")] = "",
) -> None:
    """Point an alias (default production) at a version, atomically and audited."""
    from modelmint import registry

    ws = state(ctx).workspace()
    before = registry.promote(ws.store, ref, alias=alias, reason=reason)
    console.print(
        f"[green]{ref} is now {alias}[/]" + (f" (was version {before})" if before else "")
    )


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    alias: Annotated[str, typer.Option("--alias", help="production or candidate.")] = "production",
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")] = "",
) -> None:
    """Return an alias to the version it had before its latest promotion."""
    from modelmint import registry

    ws = state(ctx).workspace()
    frm, to = registry.rollback(ws.store, name, alias=alias, reason=reason)
    console.print(f"[green]{name}@{alias}: {frm} → {to}[/]")
