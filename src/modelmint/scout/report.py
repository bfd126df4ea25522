"""The scout's report: the ranking as JSON, and as one self-contained HTML page with inline SVG
charts (margin with error bars, learning curves with the power-law forecast). No CDN."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from modelmint.charts import pyplot, svg
from modelmint.scout.economics import money
from modelmint.scout.ranking import Ranked, payback_text


@dataclass
class ScoutReport:
    """A scout run: the ranking (best first) and how the run went."""

    currency: str
    ranking: list[Ranked]
    budget_s: float
    quick: bool
    seconds: float
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> Ranked:
        return self.ranking[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "currency": self.currency,
            "budget_s": self.budget_s,
            "quick": self.quick,
            "seconds": round(self.seconds, 2),
            "notes": self.notes,
            "ranking": [r.to_dict() for r in self.ranking],
        }


def margin_chart(report: ScoutReport) -> str:
    """Monthly margin per candidate: the bar at the expected quality, the error bar from the
    pessimistic to the optimistic end of the quality interval."""
    plt = pyplot()
    rows = list(reversed(report.ranking))
    fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(rows) + 1.2))
    ys = list(range(len(rows)))
    mid = [r.economics.margin_expected / 1e6 for r in rows]
    lo = [(r.economics.margin_expected - r.economics.margin) / 1e6 for r in rows]
    hi = [(r.economics.margin_optimistic - r.economics.margin_expected) / 1e6 for r in rows]
    colors = [
        "#16a34a" if r.pilot.learnable and r.economics.margin > 0 else "#b91c1c" for r in rows
    ]
    ax.barh(ys, mid, xerr=[lo, hi], color=colors, alpha=0.8, capsize=4)
    ax.axvline(0, color="#111827", linewidth=0.8)
    ax.set_yticks(ys, [f"{r.rank}. {r.name}" for r in rows], fontsize=8)
    ax.set_xlabel(
        f"monthly margin ({report.currency}); bars: expected, whiskers: 95% interval", fontsize=8
    )
    ax.set_title("Expected monthly margin", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(alpha=0.3, axis="x")
    return svg(fig)


def curve_chart(report: ScoutReport) -> str:
    """Cross-validated quality against labelled rows, one line per candidate, with the
    interval as a band and the power-law forecast at 2x and 4x the rows dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    palette = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"]
    for i, r in enumerate(report.ranking):
        c = palette[i % len(palette)]
        pts = sorted(r.pilot.curve, key=lambda p: p.rows)
        if not pts:
            continue
        xs = [p.rows for p in pts]
        ax.plot(xs, [p.quality for p in pts], marker="o", color=c, label=r.name, linewidth=1.5)
        ax.fill_between(xs, [p.low for p in pts], [p.high for p in pts], color=c, alpha=0.12)
        f = r.economics.forecast
        if f is not None:
            ax.plot(
                [xs[-1], f.rows_2x, f.rows_4x],
                [pts[-1].quality, f.quality_2x, f.quality_4x],
                linestyle="--",
                color=c,
                linewidth=1,
            )
        ax.axhline(r.pilot.baseline, color=c, linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(
        "labelled rows (log); dashed: power-law forecast, dotted: trivial answer", fontsize=8
    )
    ax.set_ylabel("quality (share right)", fontsize=8)
    ax.set_title("Learning curves (cross-validated)", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return svg(fig)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: ScoutReport) -> str:
    cur = report.currency
    summary = _table(
        [
            "#",
            "scenario",
            "quality [95% CI]",
            "serving / 1k",
            "revenue",
            "error cost",
            "margin (pessimistic)",
            "payback",
            "reason",
        ],
        [
            [
                r.rank,
                r.name,
                f"{r.pilot.quality:.3f} [{r.pilot.low:.3f}, {r.pilot.high:.3f}]",
                money(r.economics.serving_cost_per_1k, cur, 4),
                money(r.economics.revenue, cur),
                money(r.economics.error_cost, cur),
                money(r.economics.margin, cur),
                payback_text(r.economics.payback_months),
                r.reason,
            ]
            for r in report.ranking
        ],
    )
    details = []
    for r in report.ranking:
        p, e = r.pilot, r.economics
        a = p.audit
        rows = [
            ["task", p.task],
            ["rows in the file / used by the pilot", f"{p.rows_in_file:,} / {p.rows_used:,}"],
            [
                "audit",
                ", ".join(f"{k} {v}" for k, v in a.items() if not isinstance(v, dict | list)),
            ],
            ["quality metric", p.metric],
            [
                "quality",
                f"{p.quality:.4f} (Wilson 95% {p.low:.4f}-{p.high:.4f}; fold std {p.fold_std:.4f}, {p.folds} folds)",
            ],
            ["trivial answer", f"{p.baseline_answer}: {p.baseline:.4f}"],
            ["learning curve", "; ".join(f"{c.rows:,} rows: {c.quality:.3f}" for c in p.curve)],
            [
                "serving",
                f"{p.serving_cpu_s_per_1k:.2f} CPU core-s per 1,000 calls ({p.serving_inputs} inputs in batches of {p.serving_batch}; {p.serving_wall_ms_per_call:.1f} ms wall per call)",
            ],
            [
                "monthly",
                f"revenue {money(e.revenue, cur)}, serving {money(e.serving_cost, cur)}, fixed {money(e.fixed_cost, cur)}, errors {money(e.error_cost, cur)} (expected {money(e.error_cost_expected, cur)}), buyer's value {money(e.value, cur)}",
            ],
            [
                "margin",
                f"{money(e.margin, cur)} pessimistic, {money(e.margin_expected, cur)} expected, {money(e.margin_optimistic, cur)} optimistic",
            ],
            [
                "one-off",
                f"labelling {money(e.labelling_cost, cur)} + training {money(e.training_cost, cur)}; payback {payback_text(e.payback_months)}",
            ],
        ]
        if e.forecast is not None:
            f = e.forecast
            rows.append(
                [
                    "more labels (forecast)",
                    f"{f.rows_2x:,} rows: quality {f.quality_2x:.3f}, {f.rows_4x:,} rows: {f.quality_4x:.3f} "
                    f"(power law, error = {f.coefficient:.3g} x rows^-{f.exponent:.3f}); doubling costs "
                    f"{money(f.extra_labels_2x, cur)} of labels and saves {money(f.margin_gain_2x, cur)} a month in errors",
                ]
            )
        if r.risks:
            rows.append(["risks", "; ".join(r.risks)])
        details.append(f"<h3>{r.rank}. {html.escape(r.name)}</h3>" + _table(["", ""], rows))
    style = (
        "body{font-family:system-ui,'Noto Sans CJK SC','PingFang SC',sans-serif;margin:2rem;"
        "max-width:1200px}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ddd;"
        "padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f4f6}"
    )
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in report.notes)
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>ModelMint scenario scout</title>"
        f"<style>{style}</style><body><h1>Scenario scout</h1>"
        f"<p>{len(report.ranking)} candidates from {html.escape(report.source)}, budget "
        f"{report.budget_s:.0f} s{' (quick pilots)' if report.quick else ''}, ran "
        f"{report.seconds:.0f} s. Money in {html.escape(cur)} per month; ranked by the margin at "
        "the pessimistic end of the quality interval.</p>"
        f"{notes}{summary}<h2>Margin</h2>{margin_chart(report)}"
        f"<h2>Learning curves</h2>{curve_chart(report)}<h2>Candidates</h2>{''.join(details)}"
        "</body></html>"
    )


__all__ = ["ScoutReport", "curve_chart", "margin_chart", "render_html"]
