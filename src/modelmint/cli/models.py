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


HEADLINE = ("accuracy", "macro_f1", "micro_f1", "span_f1", "mae", "rmse", "r2")


def headline(metrics: dict) -> str:
    test = metrics.get("test", {})
    shown = [f"{k} {test[k]:.4f}" for k in HEADLINE if isinstance(test.get(k), int | float)]
    return ", ".join(shown[:2]) or "-"


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
            ["model", "aliases", "dataset", "base model", "test metric"],
            [
                [m.ref, ", ".join(m.aliases), m.dataset, m.base_model, headline(m.metrics)]
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
    """Point an alias (default production) at a version, atomically and audited. The version
    number is required, and the version the alias already points at is refused (exit 5)."""
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
    """Return an alias to the version it had before its latest promotion (exit 5 when there is
    none)."""
    from modelmint import registry

    ws = state(ctx).workspace()
    frm, to = registry.rollback(ws.store, name, alias=alias, reason=reason)
    console.print(f"[green]{name}@{alias}: {frm} → {to}[/]")


@app.command("export")
def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME:VERSION to export.")],
    int8: Annotated[
        bool, typer.Option("--int8/--fp32", help="Dynamic int8 quantization (default) or fp32.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Export a text classifier to ONNX (int8 by default) as the next version of its scenario,
    reporting the accuracy, speed and size change on the frozen test split."""
    from modelmint.cli._common import progress_ui
    from modelmint.pipeline import export_model

    ws = state(ctx).workspace()
    with progress_ui(not as_json) as progress:
        out = export_model(ws, ref, int8=int8, progress=progress)
    if as_json:
        print_json(out)
        return
    b, a = out["speed_before"], out["speed_after"]
    console.print(
        table(
            f"{out['source']} → {out['model']} ({out['format']})",
            ["", "before", "after", "change"],
            [
                [
                    "test accuracy",
                    f"{out['accuracy_before']:.4f}",
                    f"{out['accuracy_after']:.4f}",
                    f"{out['accuracy_change']:+.4f}",
                ],
                [
                    "texts/s (batch 32)",
                    b["texts_per_s_batch32"],
                    a["texts_per_s_batch32"],
                    f"x{out['speedup_batch32']}",
                ],
                ["p50 ms (batch 1)", b["p50_ms_batch1"], a["p50_ms_batch1"], ""],
                [
                    "size (MB)",
                    f"{out['bytes_before'] / 1e6:.1f}",
                    f"{out['bytes_after'] / 1e6:.1f}",
                    f"x{out['size_ratio']}",
                ],
            ],
        )
    )
    console.print(
        f"same prediction on {out['agreement']:.1%} of the test split; promote it with "
        f"[bold]modelmint models promote {out['model']}[/]"
    )


@app.command("compare")
def compare(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="First model, NAME:VERSION.")],
    b: Annotated[str, typer.Argument(help="Second model, NAME:VERSION.")],
    as_json: JsonOpt = False,
) -> None:
    """Score two models of a scenario on the same frozen test split (the first model's) and test
    whether the difference is more than noise (paired test)."""
    from modelmint.cli._common import progress_ui
    from modelmint.pipeline import compare_models

    ws = state(ctx).workspace()
    with progress_ui(not as_json) as progress:
        out = compare_models(ws, a, b, progress=progress)
    if as_json:
        print_json(out)
        return
    keys = [
        k for k, v in out["a"]["metrics"].items() if isinstance(v, int | float) and k != "n_test"
    ]
    console.print(
        table(
            f"{out['a']['model']} vs {out['b']['model']} on the test split of {out['dataset']}",
            ["metric", out["a"]["model"], out["b"]["model"], "difference"],
            [
                [
                    k,
                    f"{out['a']['metrics'][k]:.4f}",
                    f"{out['b']['metrics'][k]:.4f}",
                    f"{out['b']['metrics'][k] - out['a']['metrics'][k]:+.4f}",
                ]
                for k in keys
                if k in out["b"]["metrics"]
            ],
        )
    )
    console.print(out["verdict"])
