"""`modelmint train`, `modelmint eval` and `modelmint retrain`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelmint.cli._common import JsonOpt, console, print_json, progress_ui, state, table


def print_report(report, title: str) -> None:
    ex = report.extra
    if report.metrics:  # regression, multi-label, entities
        rows = []
        for k, v in report.metrics.items():
            if isinstance(v, list):
                continue
            ci = report.metrics.get(f"{k}_ci95")
            shown = "-" if v is None else f"{v:.4f}"
            rows.append([k, shown + (f" (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci else "")])
        if "baseline" in ex:
            b = ex["baseline"]
            rows.append(
                [
                    f"baseline: {b['predicts']}",
                    ", ".join(f"{k} {v:.4f}" for k, v in b.items() if k != "predicts"),
                ]
            )
        rows.append(["test examples", report.n])
        console.print(table(title, ["metric", "value"], rows))
        if report.per_class:
            console.print(
                table(
                    "Per label / entity type",
                    ["label", "precision", "recall", "f1", "support"],
                    [
                        [
                            lab,
                            f"{m['precision']:.3f}",
                            f"{m['recall']:.3f}",
                            f"{m['f1']:.3f}",
                            m["support"],
                        ]
                        for lab, m in report.per_class.items()
                    ],
                )
            )
        return

    def ci(key: str) -> str:
        return f" (95% CI {ex[key][0]:.4f}-{ex[key][1]:.4f})" if key in ex else ""

    rows = [
        ["accuracy", f"{report.accuracy:.4f}{ci('accuracy_ci95')}"],
        ["macro precision", f"{report.macro_precision:.4f}"],
        ["macro recall", f"{report.macro_recall:.4f}"],
        ["macro F1", f"{report.macro_f1:.4f}{ci('macro_f1_ci95')}"],
    ]
    if "roc_auc" in ex:
        rows += [
            ["ROC-AUC / PR-AUC", f"{ex['roc_auc']:.4f} / {ex['pr_auc']:.4f}"],
            ["calibration error (ECE)", f"{ex['ece']:.4f}"],
        ]
    if "baseline" in ex:
        b = ex["baseline"]
        rows.append(
            [
                f"baseline: always '{b['predicts']}'",
                f"accuracy {b['accuracy']:.4f}, macro F1 {b['macro_f1']:.4f}",
            ]
        )
    rows.append(["test examples", report.n])
    console.print(table(title, ["metric", "value"], rows))
    console.print(
        table(
            "Per class",
            ["label", "precision", "recall", "f1", "support"],
            [
                [lab, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", m["support"]]
                for lab, m in report.per_class.items()
            ],
        )
    )
    print_confusion(report)


MATRIX_MAX_LABELS = 6
"""Up to this many classes the confusion matrix fits a terminal; above, the most confused
pairs are shown instead (the full matrix stays in --json and the HTML report)."""


def print_confusion(report, top: int = 10) -> None:
    from modelmint.evaluate import confused_pairs

    labels = list(report.labels)
    if len(labels) <= MATRIX_MAX_LABELS:
        console.print(
            table(
                "Confusion matrix (rows: true, columns: predicted)",
                ["true \\ pred", *labels],
                [[lab, *row] for lab, row in zip(labels, report.confusion, strict=True)],
            )
        )
        return
    mistakes = sum(n for i, row in enumerate(report.confusion) for j, n in enumerate(row) if i != j)
    pairs = confused_pairs(labels, report.confusion, top=top)
    if not pairs:
        console.print(f"no confusions: all {report.n} test examples are right")
        return
    support = {lab: sum(row) for lab, row in zip(labels, report.confusion, strict=True)}
    console.print(
        table(
            f"Most confused pairs (top {len(pairs)} of {mistakes} mistakes over {len(labels)} "
            "classes; the full matrix is in --json and the HTML report)",
            ["true", "predicted as", "count", "share of true"],
            [[t, p, n, f"{n / max(support[t], 1):.0%}"] for t, p, n in pairs],
            numbers=2,
        )
    )


def train(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name; the model is registered as NAME:N.")],
    dataset_version: Annotated[
        int | None, typer.Option("--dataset-version", help="Dataset version (default: newest).")
    ] = None,
    base_model: Annotated[
        str,
        typer.Option(
            "--base-model",
            help="multilingual-e5-small, all-MiniLM-L6-v2, or a transformers model path.",
        ),
    ] = "multilingual-e5-small",
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="Text classification: head (frozen encoder + trained head, fast), lora "
            "(LoRA adapters via peft) or full (full fine-tune); lora/full need "
            "--base-model all-MiniLM-L6-v2 or a transformers model. Other tasks pick their "
            "own model: LightGBM (tabular), CRF (entities), CNN (images); faq indexes the questions, and full fine-tunes the index first.",
        ),
    ] = "head",
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="Truncate inputs to this many tokens.")
    ] = 128,
    epochs: Annotated[
        int, typer.Option("--epochs", help="Most epochs (lora/full/cnn); 0 = method default.")
    ] = 0,
    learning_rate: Annotated[
        float, typer.Option("--learning-rate", help="0 = the method's default.")
    ] = 0.0,
    patience: Annotated[
        int, typer.Option("--patience", help="Early stopping patience on validation.")
    ] = 3,
    class_weight: Annotated[
        str, typer.Option("--class-weight", help="balanced or none.")
    ] = "balanced",
    tune: Annotated[
        int,
        typer.Option(
            "--tune",
            help="Optuna trials of hyperparameter search on the validation split (the study is "
            "stored in the database); 0 = off.",
        ),
    ] = 0,
    folds: Annotated[
        int,
        typer.Option(
            "--folds",
            help="First run K-fold cross-validation on the train+validation rows and report "
            "mean and spread; 0 = off.",
        ),
    ] = 0,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(
            "--dp-epsilon",
            help="Train the head with differential privacy (Opacus DP-SGD) to this epsilon; "
            "the spent (epsilon, delta) is saved with the model.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    promote: Annotated[
        bool, typer.Option("--promote", help="Promote to production after training.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train dataset NAME as scenario NAME, evaluate on its frozen test split, register NAME:N."""
    from modelmint import registry
    from modelmint.pipeline import cross_validate, report_dict, train_and_register
    from modelmint.train import TrainConfig

    ws = state(ctx).workspace()
    config = TrainConfig(
        base_model=base_model,
        method=method,  # type: ignore[arg-type]
        max_tokens=max_tokens,
        seed=seed,
        epochs=epochs,
        learning_rate=learning_rate,
        patience=patience,
        class_weight=class_weight,  # type: ignore[arg-type]
        dp_epsilon=dp_epsilon,
    )
    cv = None
    with progress_ui(not as_json) as progress:
        if folds:
            cv = cross_validate(
                ws, name, folds, dataset_version=dataset_version, config=config, progress=progress
            )
        out = train_and_register(
            ws, name, dataset_version=dataset_version, config=config, progress=progress, tune=tune
        )
    if out is None:  # a helper process of `torchrun --nproc_per_node N -m modelmint train`
        return
    if promote:
        registry.promote(ws.store, out.model.ref, reason="modelmint train --promote")
    if as_json:
        print_json(
            {
                "model": out.model.ref,
                "dataset": out.dataset.ref,
                "test": report_dict(out.report),
                "validation": out.train.validation_metrics,
                "train_seconds": round(out.train.seconds, 2),
                "embedding_cache": {
                    "hits": out.train.embed_cache_hits,
                    "misses": out.train.embed_cache_misses,
                },
                "promoted": promote,
                "cross_validation": cv,
            }
        )
        return
    if cv is not None:
        console.print(
            table(
                f"{folds}-fold cross-validation on {cv['dataset']} (train + validation rows)",
                ["metric", "mean", "std", "per fold"],
                [
                    [
                        key,
                        f"{v['mean']:.4f}",
                        f"{v['std']:.4f}",
                        " ".join(f"{r[key]:.3f}" for r in cv["rounds"]),
                    ]
                    for key, v in cv["summary"].items()
                ],
            )
        )
    print_report(out.report, f"{out.model.ref} on the frozen test split of {out.dataset.ref}")
    cached = out.train.embed_cache_hits + out.train.embed_cache_misses
    console.print(
        f"[green]registered[/] [bold]{out.model.ref}[/] in {out.train.seconds:.1f}s"
        + (
            f" (embeddings: {out.train.embed_cache_hits} cached, "
            f"{out.train.embed_cache_misses} computed)"
            if cached
            else ""
        )
    )
    if promote:
        console.print(f"[green]promoted[/] {out.model.ref} to production")
    else:
        console.print(f"next: [bold]modelmint models promote {out.model.ref}[/]")


def eval_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME:VERSION, or NAME:production.")],
    robustness: Annotated[
        bool,
        typer.Option(
            "--robustness/--no-robustness",
            help="Score up to 300 test examples under typos, casing, punctuation, width and "
            "traditional-character noise (text classification).",
        ),
    ] = True,
    html: Annotated[
        bool, typer.Option("--html/--no-html", help="Write the HTML report and model card.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a registered model on the frozen test split of its dataset: metrics with 95%
    intervals, the trivial baseline, a paired comparison with production, robustness, and an
    HTML report with plots plus a model card."""
    from modelmint.pipeline import evaluate_full

    ws = state(ctx).workspace()
    with progress_ui(not as_json) as progress:
        ev = evaluate_full(ws, ref, progress=progress, robustness=robustness, write=html)
    if as_json:
        print_json(ev.to_dict())
        return
    print_report(ev.report, f"{ev.model.ref} on the frozen test split of {ev.model.dataset}")
    if ev.comparison is not None:
        console.print(f"against production: {ev.comparison.reason}")
    if ev.robustness.get("perturbations"):
        r = ev.robustness
        console.print(
            table(
                f"Robustness ({r['n']} test examples, clean accuracy {r['clean_accuracy']:.4f})",
                ["perturbation", "accuracy", "change"],
                [
                    [k, f"{v['accuracy']:.4f}", f"{v['delta']:+.4f}"]
                    if "accuracy" in v
                    else [k, v.get("skipped", ""), ""]
                    for k, v in r["perturbations"].items()
                ],
            )
        )
    if ev.html_path:
        console.print(f"report: [bold]{ev.html_path}[/]  model card: [bold]{ev.card_path}[/]")


def retrain(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario to retrain from its feedback.")],
    min_improvement: Annotated[
        float,
        typer.Option(
            "--min-improvement",
            min=0.0,
            max=1e12,
            help="Gain on the primary metric the candidate must exceed (accuracy, micro F1, "
            "span F1; for regression the drop in MAE).",
        ),
    ] = 0.0,
    rows: Annotated[
        Path | None,
        typer.Option(
            "--rows",
            help="Corrected rows to learn from besides the feedback: a file with the columns "
            "of the scenario's data (or class folders / a .zip of images). A row replaces the "
            "row of the same input and keeps its split; a new input joins the training split. "
            "The way to retrain entities and images.",
        ),
    ] = None,
    queue: Annotated[
        bool,
        typer.Option("--queue", help="Queue a job for `modelmint worker` instead of running here."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Feedback (and corrected rows) -> new dataset version -> train -> evaluate -> gate ->
    promote (only if better).

    Exits 8 (gate rejected) when the candidate is not promoted: it stays registered as
    `candidate` and production does not change."""
    from modelmint.errors import GateRejected, InvalidInput
    from modelmint.pipeline import retrain as run_retrain
    from modelmint.registry import queue_retrain, retrain_preflight

    ws = state(ctx).workspace()
    if rows is not None and queue:
        raise InvalidInput(
            "--rows is read here, not by a worker; drop --queue (or --rows) and run again"
        )
    if rows is not None and not rows.exists():
        raise InvalidInput(f"{rows} does not exist; check the path of the corrected rows")
    if queue:
        job = queue_retrain(ws.store, name, min_improvement)
        if as_json:
            print_json({"job": job["id"], "status": job["status"]})
        else:
            console.print(
                f"queued job [bold]{job['id']}[/]; a running `modelmint worker` will take it"
            )
        return
    # refuse at the door, before a progress bar
    retrain_preflight(ws.store, name, with_rows=rows is not None)
    with progress_ui(not as_json) as progress:
        res = run_retrain(ws, name, min_improvement=min_improvement, progress=progress, rows=rows)
    if as_json:
        print_json(res.to_dict())
    else:
        print_retrain(res)
    if not res.promoted:
        raise GateRejected(
            f"{res.candidate.ref} did not pass the gate ({res.decision.reason}); production "
            f"stays {res.production_before.ref} - send more feedback and retrain, or promote "
            f"the candidate by hand with `modelmint models promote {res.candidate.ref}`"
        )


def print_retrain(res) -> None:
    c = res.curation
    dropped = {
        k: c[k]
        for k in ("unknown_label", "empty_text", "unreadable_input", "bad_value", "columns_differ")
        if c.get(k)
    }
    console.print(
        f"feedback: {c['feedback']} rows → {c['examples']} examples "
        f"({c['corrections']} corrected the model; {c.get('already_in_dataset', 0)} already in "
        f"the data; {c['added']} added"
        + (f"; dropped {', '.join(f'{k} {v}' for k, v in dropped.items())}" if dropped else "")
        + f") → dataset {res.dataset.ref}"
    )
    if "rows_rows" in c:
        console.print(
            f"corrected rows: {c['rows_rows']} → {c['rows_corrected']} corrected an example, "
            f"{c['rows_added']} added to train, {c['rows_unchanged']} unchanged"
        )
    cand, prod = res.candidate_report, res.production_report
    metrics = [cand.primary] + (["macro_f1"] if cand.primary == "accuracy" else [])
    console.print(
        table(
            f"Gate on the same frozen test split ({cand.n} examples)",
            ["model", *(m.replace("_", " ") for m in metrics)],
            [
                [res.production_before.ref + " (production)"]
                + [f"{prod.value(m):.4f}" for m in metrics],
                [res.candidate.ref + " (candidate)"] + [f"{cand.value(m):.4f}" for m in metrics],
            ],
        )
    )
    d = res.decision
    verdict = "[green]PROMOTED[/]" if d.promote else "[yellow]NOT PROMOTED[/]"
    console.print(f"{verdict}: {d.reason}")
    if d.promote:
        console.print(
            f"production is now {res.scenario}:{res.production_after} "
            f"(was {res.production_before.ref})"
        )
    else:
        console.print(
            f"production stays {res.production_before.ref}; {res.candidate.ref} is the candidate"
        )
