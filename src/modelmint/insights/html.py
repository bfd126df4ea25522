"""An insights report as one self-contained HTML page: charts (revenue and margin over time,
the funnel, cost per 1,000 calls), then the table behind them. No external asset."""

from __future__ import annotations

import html
from typing import Any

from modelmint.charts import bar_chart

STYLE = """body{font:14px system-ui,sans-serif;margin:2rem;max-width:1100px;color:#111}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left}th{background:#f5f5f5}td.n{text-align:right}.muted{color:#666}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.charts figure{margin:0}"""

TITLES = {
    "revenue": "Revenue",
    "costs": "Cost to serve",
    "margin": "Margin",
    "funnel": "Funnel",
    "experiments": "Model versions: money and outcomes",
}


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = ""
    for r in rows:
        cells = "".join(
            f"<td class=n>{_e(r.get(c))}</td>"
            if isinstance(r.get(c), int | float)
            else f"<td>{_e(r.get(c))}</td>"
            for c in columns
        )
        body += f"<tr>{cells}</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _f(micros: int | None) -> float | None:
    return None if micros is None else micros / 1_000_000


def _charts(report: dict[str, Any]) -> list[str]:
    kind, by = report["report"], report.get("by")
    out = []
    series = report.get("series") or []
    for cur in sorted({s["currency"] for s in series}):
        pts = [s for s in series if s["currency"] == cur]
        data: dict[str, list[float | None]] = {"revenue": [_f(s["revenue_micros"]) for s in pts]}
        if kind == "margin":
            data["cost"] = [_f(s.get("cost_micros")) for s in pts]
            data["margin"] = [_f(s.get("margin_micros")) for s in pts]
        title = "Revenue and margin over time" if kind == "margin" else "Revenue over time"
        out.append(bar_chart(f"{title} ({cur})", [s["period"] for s in pts], data, ylabel=cur))
    rows = report.get("rows") or []
    if kind == "costs" and rows:
        out.append(
            bar_chart(
                f"Cost per 1,000 calls ({rows[0]['currency']})",
                [str(r[by]) for r in rows],
                {
                    "all costs": [_f(r["per_1k_calls_micros"]) for r in rows],
                    "serving only": [_f(r["serving_per_1k_calls_micros"]) for r in rows],
                },
                ylabel=rows[0]["currency"],
            )
        )
    if kind in ("revenue", "margin") and rows:
        for cur in sorted({r["currency"] for r in rows}):
            rs = [r for r in rows if r["currency"] == cur]
            key = "margin_micros" if kind == "margin" else "revenue_micros"
            out.append(
                bar_chart(
                    f"{kind.capitalize()} by {by} ({cur})",
                    [str(r[by]) for r in rs],
                    {kind: [_f(r[key]) for r in rs]},
                    ylabel=cur,
                )
            )
    if kind == "funnel" and rows:
        steps = ["created", "first_call", "active", "paid"]
        out.append(
            bar_chart(
                f"Funnel by {by} (tenants at each step)",
                steps,
                {str(r[by]): [float(r[s]) for s in steps] for r in rows},
                ylabel="tenants",
            )
        )
    if kind == "experiments" and rows:
        labels = [f"{r['scenario']}:{r['version']}" for r in rows]
        out.append(
            bar_chart(
                f"Margin per 1,000 calls by version ({report['currency']})",
                labels,
                {
                    "margin / 1k calls": [
                        None
                        if r["margin_per_1k_calls"] is None
                        else float(r["margin_per_1k_calls"])
                        for r in rows
                    ]
                },
                ylabel=report["currency"],
            )
        )
    return out


def render(report: dict[str, Any]) -> str:
    kind = report["report"]
    span = report["span"]
    title = TITLES.get(kind, kind)
    parts = [
        f"<h1>{_e(title)}</h1>",
        f"<p class=muted>{_e(span['label'])} ({_e(span['start'][:10])} to "
        f"{_e(span['end'][:10])}, end excluded)"
        + (f"; by {_e(report['by'])}" if report.get("by") else "")
        + (f"; converted to {_e(report['currency'])}" if report.get("converted") else "")
        + "</p>",
    ]
    parts += [f"<p class=muted>{_e(n)}</p>" for n in report.get("notes") or []]
    charts = _charts(report)
    if charts:
        parts.append(
            "<div class=charts>" + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"
        )
    rows = report.get("rows") or []
    if rows:
        cols = [
            c
            for c in rows[0]
            if not c.endswith("_micros") and not isinstance(rows[0][c], dict | list)
        ]
        parts.append(_table(cols, rows))
    if kind == "funnel":
        if report.get("cohorts"):
            parts.append("<h2>Weekly cohorts</h2>")
            c0 = report["cohorts"][0]
            parts.append(_table(list(c0), report["cohorts"]))
        if report.get("trials"):
            parts.append("<h2>Trial to paid</h2>")
            parts.append(_table(list(report["trials"][0]), report["trials"]))
    if kind == "experiments":
        for r in rows:
            for event, o in r["outcomes"].items():
                parts.append(
                    f"<p>{_e(r['scenario'])}:{_e(r['version'])} · {_e(event)}: rate "
                    f"{_e(o['rate'])}, value per call {_e(o['value_per_call'])}</p>"
                )
        if report.get("experiments"):
            parts.append("<h2>Experiments</h2>")
            parts.append(
                _table(
                    ["scenario", "mode", "status", "production_version", "challenger_version"],
                    report["experiments"],
                )
            )
    body = "\n".join(parts)
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>ModelMint · {_e(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
