"""Evaluation of registered models: on the frozen test split of the dataset each was trained on,
the whole evaluation (comparison with production, robustness, HTML report and model card), and
the paired comparison of two models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmint import data, evaluate, registry
from modelmint.errors import InvalidInput
from modelmint.modeling import Model, load_model_dir
from modelmint.pipeline.workspace import Progress, Workspace
from modelmint.types import EvalReport, Example, ModelRef


def load_model(path: Path, image_root: Path | None = None) -> Model:
    """Load a model directory; image models also learn where their dataset's images are."""
    model = load_model_dir(path)
    if image_root is not None:
        point_at_images(model, image_root)
    return model


def point_at_images(model: Model, image_root: Path) -> None:
    """Image models read stored examples from their dataset's image folder."""
    if hasattr(model, "image_root"):
        model.image_root = image_root


def dataset_of(ws: Workspace, mref: ModelRef) -> tuple[list[Example], Path]:
    """The examples of the dataset version a registered model was trained on, and its images."""
    name, version = mref.dataset.split(":")
    path = Path(ws.store.datasets.get(name, int(version))["path"])
    return data.read_examples(path), path.parent / "images"


def report_dict(report: EvalReport) -> dict[str, Any]:
    """An evaluation report as the JSON written next to a model and printed by `--json`."""
    return {
        "split": report.split,
        "task": report.task,
        "n": report.n,
        "primary": report.primary,
        **report.headline(),
        "per_class": report.per_class,
        "labels": list(report.labels),
        "confusion": report.confusion,
        **{k: v for k, v in report.extra.items() if k in ("reliability", "residuals")},
    }


def score_on_test(
    ws: Workspace, model: Any, examples: list[Any], progress: Progress | None = None
) -> EvalReport:
    """`model`'s metrics on the frozen test split of `examples`, with progress reported as the
    "evaluating" stage."""
    return evaluate.evaluate_model(
        model,
        examples,
        split="test",
        cache=ws.cache,
        progress=(lambda d, t: progress("evaluating", d, t)) if progress else None,
    )


def evaluate_ref(
    ws: Workspace, ref: str, progress: Progress | None = None
) -> tuple[ModelRef, EvalReport]:
    """Score a registered model on the frozen test split of the dataset it was trained on."""
    mref, model = registry.load(ws.store, ref)
    examples, image_root = dataset_of(ws, mref)
    point_at_images(model, image_root)
    report = score_on_test(ws, model, examples, progress)
    return mref, report


@dataclass
class Evaluation:
    model: ModelRef
    report: EvalReport
    comparison: evaluate.GateDecision | None
    robustness: dict[str, Any]
    html_path: Path | None
    card_path: Path | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.ref,
            "dataset": self.model.dataset,
            **report_dict(self.report),
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "robustness": self.robustness,
            "report_html": str(self.html_path) if self.html_path else None,
            "model_card": str(self.card_path) if self.card_path else None,
        }


def evaluate_full(
    ws: Workspace,
    ref: str,
    *,
    progress: Progress | None = None,
    robustness: bool = True,
    write: bool = True,
) -> Evaluation:
    """The whole evaluation of a registered model: metrics on its frozen test split, the paired
    comparison with the scenario's production version on that same split, robustness under
    perturbations, and (with ``write``) the HTML report and model card under
    ``<home>/reports/NAME-vN/``."""
    from modelmint.evaluate.html import model_card, render_report
    from modelmint.evaluate.robustness import robustness as run_robustness

    mref, model = registry.load(ws.store, ref)
    examples, image_root = dataset_of(ws, mref)
    point_at_images(model, image_root)
    report = score_on_test(ws, model, examples, progress)
    comparison = None
    prod_version = ws.store.models.resolve_alias(mref.name, "production")
    if prod_version is not None and prod_version != mref.version:
        _, prod_model = registry.load(ws.store, f"{mref.name}:{prod_version}")
        if prod_model.task == model.task:
            point_at_images(prod_model, image_root)
            prod_report = evaluate.evaluate_model(
                prod_model, examples, split="test", cache=ws.cache
            )
            comparison = evaluate.gate(report, prod_report)
    robust: dict[str, Any] = {}
    if robustness:
        if progress:
            progress("robustness", 0, 1)
        robust = run_robustness(model, examples, split="test")
        if progress:
            progress("robustness", 1, 1)
    html_path = card_path = None
    if write:
        out = ws.settings.home / "reports" / f"{mref.name}-v{mref.version}"
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        rd = report_dict(report)
        html_path = out / "report.html"
        html_path.write_text(
            render_report(
                mref.ref,
                rd,
                model.config,
                robustness=robust,
                comparison=comparison.to_dict() if comparison else None,
            ),
            encoding="utf-8",
        )
        card_path = out / "model_card.md"
        card_path.write_text(model_card(mref.ref, rd, model.config, robust), encoding="utf-8")
    return Evaluation(mref, report, comparison, robust, html_path, card_path)


def compare_models(
    ws: Workspace, a: str, b: str, progress: Progress | None = None
) -> dict[str, Any]:
    """Both models on the frozen test split of the first one's dataset, with the paired test."""
    ra, ma = registry.load(ws.store, a)
    rb, mb = registry.load(ws.store, b)
    if ma.task != mb.task:
        raise InvalidInput(
            f"{ra.ref} is {ma.task} and {rb.ref} is {mb.task}; compare models of one task"
        )
    examples, image_root = dataset_of(ws, ra)
    for m in (ma, mb):
        point_at_images(m, image_root)
    reports = []
    for i, m in enumerate((ma, mb)):
        if progress:
            progress("evaluating", i, 2)
        reports.append(evaluate.evaluate_model(m, examples, split="test", cache=ws.cache))
    if progress:
        progress("evaluating", 2, 2)
    decision = evaluate.gate(reports[1], reports[0])
    return {
        "dataset": ra.dataset,
        "a": {"model": ra.ref, "metrics": reports[0].headline()},
        "b": {"model": rb.ref, "metrics": reports[1].headline()},
        "decision": decision.to_dict(),
        "verdict": f"{rb.ref} vs {ra.ref}: {decision.reason}".replace(
            "vs production", f"vs {ra.ref}"
        ),
    }
