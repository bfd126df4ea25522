"""Business insights: what each scenario, tenant, plan and model version earns, costs and
converts, read from the ledger (usage, invoices, the prediction log's compute time, outcomes).

    from modelmint import insights
    insights.revenue(store, settings, by="scenario", period="2026-11")
    insights.costs(store, settings, by="version")
    insights.margin(store, settings, by="tenant", currency="USD")
    insights.funnel(store, settings, by="plan")
    insights.experiments(store, settings)
    insights.set_rate(store, "USD", "CNY", "7.12", "2026-11-01")

See docs/insights.md for every figure and how it is computed."""

from __future__ import annotations

from modelmint.insights.funnel import funnel
from modelmint.insights.fx import list_rates, set_rate
from modelmint.insights.reports import DIMENSIONS, costs, margin, revenue
from modelmint.insights.versions import experiments

REPORTS = {
    "funnel": funnel,
    "revenue": revenue,
    "costs": costs,
    "margin": margin,
    "experiments": experiments,
}

__all__ = [
    "DIMENSIONS",
    "REPORTS",
    "costs",
    "experiments",
    "funnel",
    "list_rates",
    "margin",
    "revenue",
    "set_rate",
]
