"""Model versions side by side on money and on the business outcome: for each scenario and
version, the calls it answered, the revenue allocated to it, its cost to serve (a shadow
challenger's compute is the experiment's cost), its margin, and the outcome rate and value per
call from the outcome events reported against its predictions. "v2 earns more than v1" is one
table; the experiment that compared them (if any) is named beside it."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from modelmint.errors import InvalidInput
from modelmint.insights.ledger import CostPrices, collect
from modelmint.insights.reports import MoneyView, money, money_span
from modelmint.intervals import wilson
from modelmint.settings import Settings
from modelmint.store import Store


def experiments(
    store: Store,
    settings: Settings,
    *,
    scenario: str | None = None,
    period: str | None = None,
    since: str | None = None,
    until: str | None = None,
    currency: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    span = money_span(period, since, until, now)
    m = MoneyView(store, currency)
    prices = CostPrices.of(settings)
    facts = collect(store, settings, span, now=now)
    target = m.target or prices.currency

    def keep(s: str) -> bool:
        return scenario is None or s == scenario

    rows: dict[tuple[str, Any], dict[str, Any]] = {}

    def row(s: str, v: Any) -> dict[str, Any]:
        return rows.setdefault(
            (s, v),
            {
                "scenario": s,
                "version": v,
                "calls": 0,
                "predictions": 0,
                "revenue": defaultdict(int),
                "serving_micros": 0,
                "experiment_micros": 0,
                "outcomes": {},
            },
        )

    for c in facts.calls:
        if c["live"] and keep(c["scenario"]) and c["model_version"] is not None:
            row(c["scenario"], c["model_version"])["calls"] += c["calls"]
    for f in facts.revenue:
        if keep(f["scenario"]) and f["version"] is not None:
            amount, cur = m.convert(f["micros"], f["currency"], f["period"])
            row(f["scenario"], f["version"])["revenue"][cur] += amount
    missing = set()
    for f in facts.cost:
        if (
            not keep(f["scenario"])
            or f["version"] is None
            or f["kind"]
            not in (
                "serving",
                "experiment",
            )
        ):
            continue
        r = row(f["scenario"], f["version"])
        try:
            amount = m.to(f["micros"], prices.currency, target, f["period"])
        except InvalidInput as exc:  # a rate is missing: said in the notes
            missing.add(str(exc))
            continue
        r[f"{f['kind']}_micros"] += amount
        if f["kind"] == "serving":
            r["predictions"] += f["predictions"]
    for o in store.insights.version_outcomes(span.start, span.end):
        if keep(o["scenario"]) and (o["scenario"], o["model_version"]) in rows:
            r = rows[(o["scenario"], o["model_version"])]
            n = r["predictions"]
            low, high = wilson(o["with_event"], n) if n else (None, None)
            r["outcomes"][o["event"]] = {
                "predictions_with_event": o["with_event"],
                "rate": round(o["with_event"] / n, 4) if n else None,
                "interval": None if low is None else [round(low, 4), round(high, 4)],
                # per prediction, as in the monitoring report and the experiments
                "value_per_call": round(o["value"] / n, 6) if n else None,
            }
    out_rows = []
    for _, r in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        revenue = dict(r.pop("revenue"))
        rev_target = revenue.get(target, 0) if len(revenue) <= 1 else None
        cost = r["serving_micros"] + r["experiment_micros"]
        margin = None if rev_target is None else rev_target - cost
        out_rows.append(
            {
                **r,
                "currency": target,
                "revenue_by_currency": {k: money(x) for k, x in revenue.items()},
                "revenue_micros": rev_target,
                "revenue": money(rev_target),
                "cost_micros": cost,
                "cost": money(cost),
                "margin_micros": margin,
                "margin": money(margin),
                "margin_per_1k_calls": money(
                    None if margin is None or not r["calls"] else margin * 1000 // r["calls"]
                ),
                "serving": money(r["serving_micros"]),
                "experiment": money(r["experiment_micros"]),
            }
        )
    exps = []
    for s in sorted({s for s, _ in rows}):
        e = store.experiments.latest(s)
        if e is not None:
            exps.append(
                {
                    "scenario": s,
                    "id": e["id"],
                    "mode": e["mode"],
                    "status": e["status"],
                    "production_version": e["production_version"],
                    "challenger_version": e["challenger_version"],
                    "metric": e["metric"],
                    "decision": e.get("decision"),
                }
            )
    notes = list(facts.notes) + sorted(missing) + m.notes()
    if any(r["revenue_micros"] is None for r in out_rows):
        notes.append(
            "a version earned in several currencies: its revenue is listed per currency; give "
            "--currency to add them up"
        )
    return {
        "report": "experiments",
        "span": span.as_json(),
        "currency": target,
        "converted": bool(m.target),
        "rows": out_rows,
        "experiments": exps,
        "notes": notes,
    }
