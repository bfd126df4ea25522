"""The monitoring report as one self-contained HTML page: the signals with their verdicts, a
chart per signal over the window's slices, and the tables behind them."""

from __future__ import annotations

import html
from typing import Any

from modelmint.charts import line_chart

TITLES = {
    "input_drift": ("Input drift", "AUC, or share drifted"),
    "output_drift": ("Output drift", "test statistic"),
    "confidence": ("Confidence drop", "reference - current mean"),
    "quality": ("Quality on feedback", "accuracy (or MAE)"),
}
STYLE = """body{font:14px system-ui,sans-serif;margin:2rem;max-width:1100px;color:#111}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left}th{background:#f5f5f5}.alert{color:#b91c1c;font-weight:600}.ok{color:#15803d}
.muted{color:#666}.charts{display:flex;flex-wrap:wrap;gap:1rem}.charts figure{margin:0}"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):  # a test or a figure group: its fields, readable
        return "; ".join(f"{k.replace('_', ' ')} {_fmt(x)}" for k, x in v.items())
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, float) for x in v):
        return f"{v[0]:.4g} to {v[1]:.4g}"
    return "" if v is None else str(v)


def render(report: dict[str, Any]) -> str:
    w = report["window"]
    parts = [
        f"<h1>Monitoring: {_e(report['scenario'])}:{_e(report['version'])}</h1>",
        f"<p class=muted>window {_e(w.get('spec'))}: {w['predictions']} predictions "
        f"({w['of_version']} by the production version), {_e(w['first'])} to "
        f"{_e(w['last'])}</p>",
    ]
    if report.get("note"):
        parts.append(f"<p class=alert>{_e(report['note'])}</p>")
    rows = []
    for name, s in report["signals"].items():
        cls = "alert" if s["state"] == "alert" else "ok" if s["state"] == "ok" else "muted"
        rows.append(
            f"<tr><td>{_e(TITLES.get(name, (name,))[0])}</td><td class={cls}>{_e(s['state'])}"
            f"</td><td>{_e(_fmt(s['value']))}</td><td>{_e(_fmt(s['threshold']))}</td>"
            f"<td>{s['n']}</td></tr>"
        )
    parts.append(
        "<h2>Signals</h2><table><tr><th>signal</th><th>state</th><th>value</th>"
        "<th>threshold</th><th>n</th></tr>" + "".join(rows) + "</table>"
    )
    series = report.get("series") or []
    if series:
        charts = []
        for name, s in report["signals"].items():
            title, ylabel = TITLES.get(name, (name, ""))
            points = [(p["until"][5:16].replace("T", " "), p.get(name)) for p in series]
            if any(v is not None for _, v in points):
                charts.append(
                    "<figure>"
                    + line_chart(title, points, threshold=s["threshold"], ylabel=ylabel)
                    + "</figure>"
                )
        parts.append("<h2>Over the window</h2><div class=charts>" + "".join(charts) + "</div>")
    inputs = report.get("inputs") or {}
    if inputs.get("columns"):
        parts.append("<h2>Inputs</h2>")
        parts.append(
            _table(
                ["column", "test", "statistic", "threshold", "drifted", "current"],
                [
                    [
                        name,
                        c["method"],
                        _fmt(c["statistic"]),
                        _fmt(c["threshold"]),
                        "yes" if c["drifted"] else "no",
                        _fmt(c.get("current_mean", c.get("current_top"))),
                    ]
                    for name, c in inputs["columns"].items()
                ],
            )
        )
    if inputs.get("embedding"):
        e = inputs["embedding"]
        parts.append(
            f"<p>Embeddings: domain-classifier ROC AUC {_fmt(e['statistic'])} (threshold "
            f"{_fmt(e['threshold'])}); {_fmt(e['drifted_components_share'])} of the components "
            "drifted.</p>"
        )
    for section, title in (("outputs", "Outputs"), ("quality", "Quality")):
        data = report.get(section) or {}
        if data:
            parts.append(f"<h2>{title}</h2>")
            parts.append(_table(["what", "figures"], [[k, _fmt(v)] for k, v in data.items()]))
    business = report.get("business") or {}
    if business:
        parts.append("<h2>Business outcomes (per version)</h2>")
        parts.append(
            _table(
                ["event", "version", "calls", "with event", "rate", "95% interval", "value/call"],
                [
                    [
                        event,
                        version,
                        v["calls"],
                        v["with_event"],
                        _fmt(v["rate"]),
                        f"{v['interval'][0]:.3f}-{v['interval'][1]:.3f}",
                        _fmt(v["value_per_call"]),
                    ]
                    for event, per in business.items()
                    for version, v in per.items()
                ],
            )
        )
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Monitoring "
        f"{_e(report['scenario'])}</title><style>{STYLE}</style></head><body>"
        + "".join(parts)
        + "</body></html>"
    )
