"""The evaluation report as one self-contained HTML page (inline SVG plots drawn with
matplotlib, no external assets), and the model card as Markdown."""

from __future__ import annotations

import html
from typing import Any

from modelmint.charts import pyplot, svg

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;color:#111}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;
text-align:left;font-variant-numeric:tabular-nums}th{background:#f5f5f5}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0}
.good{color:#15803d}.bad{color:#b91c1c}.muted{color:#666}
"""


def confusion_plot(labels: list[str], matrix: list[list[int]]) -> str:
    if not matrix or len(labels) > 40:
        return ""
    plt = pyplot()
    n = len(labels)
    size = min(9.0, 2.5 + 0.35 * n)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=90 if n > 6 else 0, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    if n <= 15:
        top = max(max(r) for r in matrix) or 1
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(
                    j,
                    i,
                    v,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if v > top / 2 else "black",
                )
    return svg(fig)


def reliability_plot(bins: list[dict[str, Any]], ece: float) -> str:
    if not bins:
        return ""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], "--", color="#999", label="perfectly calibrated")
    ax.bar(
        [(b["from"] + b["to"]) / 2 for b in bins],
        [b["accuracy"] for b in bins],
        width=0.09,
        alpha=0.7,
        label="accuracy in bin",
    )
    ax.plot(
        [b["confidence"] for b in bins],
        [b["accuracy"] for b in bins],
        "o-",
        color="#b91c1c",
        label="mean confidence",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (ECE {ece:.3f})")
    ax.legend(fontsize=7, loc="upper left")
    return svg(fig)


def per_class_plot(per_class: dict[str, dict[str, float]]) -> str:
    if not per_class or len(per_class) > 80:
        return ""
    plt = pyplot()
    items = sorted(per_class.items(), key=lambda kv: kv[1]["f1"])
    fig, ax = plt.subplots(figsize=(5.5, max(2.5, 0.22 * len(items) + 1)))
    ax.barh([k for k, _ in items], [v["f1"] for _, v in items], color="#3b82f6")
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.set_title("F1 per class (weakest first)")
    ax.tick_params(axis="y", labelsize=7)
    return svg(fig)


def residual_plot(residuals: dict[str, list[float]]) -> str:
    if not residuals:
        return ""
    plt = pyplot()
    pred, actual = residuals["predicted"], residuals["actual"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
    a.scatter(actual, pred, s=6, alpha=0.5)
    lo, hi = min(actual + pred), max(actual + pred)
    a.plot([lo, hi], [lo, hi], "--", color="#999")
    a.set_xlabel("actual")
    a.set_ylabel("predicted")
    a.set_title("Predicted vs actual")
    b.scatter(pred, [p - t for p, t in zip(pred, actual, strict=True)], s=6, alpha=0.5)
    b.axhline(0, color="#999", ls="--")
    b.set_xlabel("predicted")
    b.set_ylabel("residual (predicted - actual)")
    b.set_title("Residuals")
    return svg(fig)


def curve_plot(config: dict[str, Any]) -> str:
    curve = config.get("learning_curve")
    if not curve:
        return ""
    plt = pyplot()
    x = "epoch" if "epoch" in curve[0] else "round"
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key in ("train_loss", "validation_loss", "validation_score"):
        pts = [(r[x], r[key]) for r in curve if key in r]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=key.replace("_", " "))
    ax.set_xlabel(x)
    ax.set_title("Learning curve")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return svg(fig)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, float | int) for x in v):
        return f"{v[0]:.4f} - {v[1]:.4f}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return str(v)


def _what(config: dict[str, Any]) -> str:
    kind, base = str(config.get("kind")), str(config.get("base_model"))
    return kind if base == kind or not base else f"{kind} on {base}"


def render_report(
    ref: str,
    report: dict[str, Any],
    config: dict[str, Any],
    *,
    robustness: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
) -> str:
    """One page: headline metrics with intervals, baseline, comparison with production, plots,
    per-class table, robustness and lineage."""
    skip = {
        "per_class",
        "labels",
        "confusion",
        "reliability",
        "residuals",
        "split",
        "task",
        "primary",
    }
    metrics = [[k, _fmt(v)] for k, v in report.items() if k not in skip]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Evaluation of {html.escape(ref)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Evaluation of {html.escape(ref)}</h1>",
        f"<p class='muted'>{html.escape(report.get('task', ''))} · {html.escape(_what(config))}"
        f" · frozen {html.escape(report['split'])} split"
        f" of {html.escape(str(config.get('dataset')))} ({report['n']} examples)</p>",
        "<h2>Metrics</h2>",
        _table(["metric", "value"], metrics),
    ]
    if comparison:
        cls = "good" if comparison.get("promote") else "bad"
        parts += [
            "<h2>Against production</h2>",
            f"<p class='{cls}'>{html.escape(comparison['reason'])}</p>",
        ]
    plots = [
        confusion_plot(list(report.get("labels", [])), report.get("confusion", [])),
        reliability_plot(report.get("reliability", []), float(report.get("ece", 0.0))),
        per_class_plot(report.get("per_class", {})),
        residual_plot(report.get("residuals", {})),
        curve_plot(config),
    ]
    parts += ["<h2>Plots</h2><div class='plots'>"]
    parts += [f"<figure>{p}</figure>" for p in plots if p]
    parts.append("</div>")
    if report.get("per_class"):
        parts += [
            "<h2>Per class</h2>",
            _table(
                ["label", "precision", "recall", "F1", "support"],
                [
                    [
                        k,
                        f"{v['precision']:.3f}",
                        f"{v['recall']:.3f}",
                        f"{v['f1']:.3f}",
                        v["support"],
                    ]
                    for k, v in report["per_class"].items()
                ],
            ),
        ]
    if robustness and "perturbations" in robustness:
        parts += [
            "<h2>Robustness</h2>",
            f"<p>{robustness['n']} test examples, each perturbed (seeded; "
            f"{'Chinese' if robustness.get('language') == 'zh' else 'English'} perturbations); "
            f"clean accuracy {robustness['clean_accuracy']:.4f}.</p>",
            _table(
                ["perturbation", "what", "accuracy", "change", "texts changed", "example"],
                [
                    [
                        k,
                        v.get("what", ""),
                        _fmt(v.get("accuracy", "-")),
                        _fmt(v.get("delta", "-")),
                        v.get("changed", "-"),
                        v.get("example", v.get("skipped", ""))[:80],
                    ]
                    for k, v in robustness["perturbations"].items()
                ],
            ),
        ]
    lineage = config.get("lineage", {})
    parts += [
        "<h2>Lineage</h2>",
        _table(
            ["field", "value"],
            [[k, v] for k, v in lineage.items()] + [["train config", config.get("train_config")]],
        ),
        "</body></html>",
    ]
    return "".join(parts)


def model_card(
    ref: str, report: dict[str, Any], config: dict[str, Any], robustness: dict[str, Any] | None
) -> str:
    """A model card in Markdown (Mitchell et al. 2019, the parts we can fill in honestly)."""
    tc = config.get("train_config", {})
    lines = [
        f"# Model card: {ref}",
        "",
        "## Model",
        f"- Task: {config.get('task')}",
        f"- Kind: {config.get('kind')} on base model `{config.get('base_model')}`"
        + (
            f", method `{tc.get('method')}`"
            if config.get("kind") in ("linear-head", "transformer")
            else ""
        ),
        f"- Labels: {', '.join(map(str, config.get('labels', []))) or '(regression)'}",
        f"- Trained on {config.get('n_train')} examples of dataset `{config.get('dataset')}` "
        f"(validation {config.get('n_validation')}), seed {tc.get('seed')}",
        f"- Created by {config.get('lineage', {}).get('created_by')} at "
        f"{config.get('lineage', {}).get('created_at')}, code {config.get('lineage', {}).get('code_version')}",
    ]
    if config.get("privacy"):
        p = config["privacy"]
        lines.append(
            f"- Differential privacy: epsilon {p['epsilon']:.2f}, delta {p['delta']:.1e} (Opacus)"
        )
    lines += ["", f"## Evaluation (frozen {report['split']} split, {report['n']} examples)", ""]
    lines += ["| metric | value |", "|---|---|"]
    skip = {
        "per_class",
        "labels",
        "confusion",
        "reliability",
        "residuals",
        "split",
        "task",
        "primary",
        "n",
    }
    lines += [f"| {k} | {_fmt(v)} |" for k, v in report.items() if k not in skip]
    if robustness and "perturbations" in robustness:
        lines += [
            "",
            "## Robustness",
            "",
            f"Accuracy on {robustness['n']} test examples, each perturbed (seeded); clean "
            f"accuracy {_fmt(robustness['clean_accuracy'])}.",
            "",
            "| perturbation | what | accuracy | change | texts changed |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {k} | {v.get('what', '')} | {_fmt(v.get('accuracy', '-'))} | "
            f"{_fmt(v.get('delta', '-'))} | {v.get('changed', '-')} |"
            for k, v in robustness["perturbations"].items()
        ]
    lines += [
        "",
        "## Intended use and limits",
        "- Scores inputs like the training data; the test split above is the only evidence of "
        "quality. Inputs from another domain, language or period can score worse.",
        f"- Text is truncated to {config.get('max_tokens', 'n/a')} tokens.",
        "- Weakest classes are listed first in the report's per-class plot; check them before "
        "relying on the model for those.",
        "",
    ]
    return "\n".join(lines)
