"""Charts as inline SVG (matplotlib, Agg backend): every HTML report is one self-contained page
with no external asset. Shared by the evaluation report and the monitoring report."""

from __future__ import annotations

import html
import io
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def svg(fig: Any) -> str:
    """The figure as an inline <svg> element (the figure is closed), an image named by its first
    axes title for screen readers (matplotlib draws the title's text as paths)."""
    plt = pyplot()
    label = next((ax.get_title() for ax in fig.axes if ax.get_title()), "")
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    if label:
        text = f'<svg role="img" aria-label="{html.escape(label)}"' + text[len("<svg") :]
    return text


def line_chart(
    title: str,
    points: list[tuple[str, float | None]],
    *,
    threshold: float | None = None,
    ylabel: str = "",
) -> str:
    """One signal over time: x labels, values (None: a gap), and its alert threshold."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 2.6))
    xs = list(range(len(points)))
    ys = [float("nan") if v is None else v for _, v in points]
    ax.plot(xs, ys, marker="o", color="#2563eb", linewidth=1.5)
    if threshold is not None:
        ax.axhline(threshold, color="#b91c1c", linestyle="--", linewidth=1, label="threshold")
        ax.legend(loc="best", fontsize=7)
    step = max(1, len(points) // 6)
    ax.set_xticks(xs[::step], [label for label, _ in points][::step], fontsize=7, rotation=20)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3)
    return svg(fig)


def bar_chart(
    title: str,
    labels: list[str],
    series: dict[str, list[float | None]],
    *,
    errors: dict[str, list[float]] | None = None,
    ylabel: str = "",
) -> str:
    """Grouped bars: one group per label, one bar per series (None: no bar); optional error
    bars (half-widths) per series."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(labels) + 2), 2.8))
    n = max(len(series), 1)
    width = 0.8 / n
    colours = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c"]
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (n - 1) / 2) * width for i in range(len(labels))]
        ys = [float("nan") if v is None else v for v in values]
        err = (errors or {}).get(name)
        ax.bar(xs, ys, width, label=name, color=colours[k % len(colours)], yerr=err, capsize=3)
    ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=20 if len(labels) > 4 else 0)
    ax.axhline(0, color="#444", linewidth=0.6)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    if len(series) > 1:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return svg(fig)
