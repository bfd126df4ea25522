"""The audit as a self-contained HTML page: tables and inline SVG charts, no external assets."""

from __future__ import annotations

import html
import json
from typing import Any


def _bar_chart(title: str, items: list[tuple[str, int]], width: int = 560) -> str:
    if not items:
        return ""
    top = max(v for _, v in items) or 1
    bar_h, gap, label_w = 22, 6, 150
    h = len(items) * (bar_h + gap) + 30
    parts = [
        f'<svg role="img" aria-label="{html.escape(title)}" width="{width}" height="{h}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">'
    ]
    parts.append(f'<text x="0" y="14" font-weight="600">{html.escape(title)}</text>')
    for i, (name, v) in enumerate(items):
        y = 24 + i * (bar_h + gap)
        w = int((width - label_w - 70) * v / top)
        parts.append(f'<text x="0" y="{y + 15}">{html.escape(str(name))[:22]}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar_h}" fill="#3b82f6"/>'
        )
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 15}">{v:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[list[Any]], header: list[str]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_html(title: str, audit: dict[str, Any], review: dict[str, Any] | None = None) -> str:
    review = review or {}
    summary: list[list[Any]] = [
        ["task", audit.get("task", "text-classification")],
        ["rows read", audit["rows"]],
    ]
    if "kept_rows" in audit:
        summary.append(["kept after cleaning", audit["kept_rows"]])
    summary += [
        ["empty inputs", audit["empty_texts"]],
        ["missing labels / targets", audit["missing_labels"]],
        ["exact duplicates", audit["duplicate_rows"]],
        ["near-duplicates (normalised)", audit.get("near_duplicate_rows", 0)],
        ["inputs with conflicting labels", audit["conflicting_texts"]],
        ["rare classes", ", ".join(audit.get("rare_classes", [])) or "none"],
    ]
    if "pii" in audit:
        summary.append(
            [
                "PII redacted" if audit.get("pii_redacted") else "PII (redaction was off)",
                ", ".join(f"{k} {v}" for k, v in audit["pii"].items()) or "none found",
            ]
        )
    if "fixes" in audit:
        summary.append(["fixes in this version", "; ".join(f["fix"] for f in audit["fixes"])])
    if "leakage" in review:
        lk = review["leakage"]
        summary.append(["texts in two splits (exact / near)", f"{lk['exact']} / {lk['near']}"])
    if "fuzzy_duplicates" in review:
        fz = review["fuzzy_duplicates"]
        summary.append(["fuzzy near-duplicates (MinHash)", fz["rows_with_a_near_duplicate"]])
    if "label_issues" in review:
        li = review["label_issues"]
        summary.append(["suspected label errors", f"{li['count']} ({li['share']:.1%})"])
    if "label_issues_skipped" in review:
        summary.append(["suspected label errors", review["label_issues_skipped"]])
    # tabular inputs are stored as feature JSON: their length in characters means nothing
    tabular = audit.get("task", "").startswith("tabular-")
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        _table(summary, ["check", "result"]),
        _bar_chart("Class balance", list(audit["class_balance"].items())),
        ""
        if tabular
        else _bar_chart(
            "Text length (characters)",
            [(f"{b['from']}-{b['to']}", b["count"]) for b in audit.get("length_histogram", [])],
        ),
    ]
    cols = audit.get("columns") or {}
    if cols:
        sections.append("<h2>Columns</h2>")
        sections.append(
            _table(
                [
                    [
                        c,
                        p["missing"],
                        p["distinct"],
                        p["kind"],
                        ", ".join(p["flags"]) or "",
                        p.get("outliers", {}).get("count", ""),
                    ]
                    for c, p in cols.items()
                ],
                ["column", "missing", "distinct", "kind", "flags", "outliers"],
            )
        )
    findings = [
        ("Exact duplicates (rows)", audit.get("duplicate_examples", [])),
        ("Near-duplicates (first row, duplicate row)", audit.get("near_duplicate_examples", [])),
        ("Conflicting labels", audit.get("conflict_examples", [])),
        ("Empty texts (rows)", audit.get("empty_text_rows", [])),
    ]
    for name, items in findings:
        if items:
            sections.append(
                f"<h2>{html.escape(name)}</h2><pre>{html.escape(json.dumps(items, ensure_ascii=False))}</pre>"
            )
    if review.get("fuzzy_duplicates", {}).get("examples"):
        sections.append("<h2>Fuzzy near-duplicates</h2>")
        sections.append(
            _table(
                [
                    [p["rows"], ", ".join(p["splits"]), " / ".join(p["labels"])]
                    for p in review["fuzzy_duplicates"]["examples"]
                ],
                ["rows", "splits", "labels"],
            )
        )
    if review.get("label_issues", {}).get("rows"):
        li = review["label_issues"]
        sections.append(f"<h2>Suspected label errors</h2><p>{html.escape(li['method'])}</p>")
        sections.append(
            _table(
                [
                    [
                        r["row"],
                        r["split"],
                        r["given"],
                        r["suggested"],
                        r["confidence_in_given"],
                        r["text"],
                    ]
                    for r in li["rows"]
                ],
                ["row", "split", "given", "suggested", "p(given)", "text"],
            )
        )
    style = (
        "body{font-family:system-ui,'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;"
        "margin:2rem;max-width:1100px}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ddd;padding:4px 8px;"
        "text-align:left;vertical-align:top}th{background:#f3f4f6}pre{white-space:pre-wrap}"
    )
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{style}</style><body>{''.join(sections)}</body></html>"
    )
