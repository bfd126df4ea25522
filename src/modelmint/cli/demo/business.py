"""The demo's last step: the business view. A few more (SIMULATED) prospects sign up on a trial
plan and use the API, then the owner asks what the scenario earns, what a call costs to serve
(measured), the margin, the funnel of its tenants, and v1 against v2 on the (SIMULATED)
conversions; and the scout ranks candidate scenarios from data that ships in packages."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmint.cli.demo.api import Api, predict_one
from modelmint.cli.demo.steps import Progress, Reviews

if TYPE_CHECKING:
    from modelmint.pipeline import Workspace

TRIAL_PLAN = "trial-14"
# SIMULATED prospects: (name, calls they make). With ACTIVE_CALLS, two become active.
PROSPECTS = (("p-north", 0), ("p-east", 0), ("p-south", 3), ("p-west", 25), ("p-centre", 30))
ACTIVE_CALLS = 20  # the demo's threshold of an active tenant (MODELMINT_ACTIVE_CALLS: 100)
# what a cloud core-hour and a GB-month cost: the demo's prices for the measured compute
SCOUT_BUDGET = "2m"  # quick pilots of the three bundled candidates (about 70 s on 2 cores)
COSTS = {"cost_cpu_core_hour": "0.04", "cost_storage_gb_month": "0.02"}


@dataclass(frozen=True)
class Business:
    """What the owner sees: the scenario's money and its tenants' funnel (usage simulated)."""

    prospects: int  # SIMULATED tenants added in this step
    calls: int  # their predict calls
    revenue: dict[str, Any]  # insights revenue by version (this month: drafts)
    costs: dict[str, Any]  # insights costs by version (measured compute time)
    margin: dict[str, Any]  # insights margin by scenario
    funnel: dict[str, Any]  # insights funnel by plan
    versions: dict[str, Any]  # insights experiments: v1 against v2
    report: Path  # the margin report with charts
    funnel_report: Path
    scout: dict[str, Any]  # the scout's ranking of bundled candidates (ScoutReport.to_dict())
    scout_report: Path


def business_view(
    ws: Workspace, api: Api, reviews: Reviews, *, rng: random.Random, progress: Progress
) -> Business:
    from modelmint import billing, insights
    from modelmint.insights.html import render

    billing.create_plan(
        ws.store, TRIAL_PLAN, price_per_1k="2.00", trial_days=14, currency=ws.settings.currency
    )
    texts = [r["text"] for r in reviews.held_out]
    total = sum(n for _, n in PROSPECTS)
    done = 0
    for name, n in PROSPECTS:
        billing.create_tenant(ws.store, name, plan=TRIAL_PLAN)
        if not n:
            continue
        key, _ = billing.create_key(ws.store, name, name="demo")
        with api.client(key) as client:
            for _ in range(n):
                predict_one(client, rng.choice(texts))
                done += 1
                progress("prospects' calls", done, total)
    settings = ws.settings.model_copy(update=COSTS)
    revenue = insights.revenue(ws.store, settings, by="version")
    costs = insights.costs(ws.store, settings, by="version")
    margin = insights.margin(ws.store, settings, by="scenario")
    funnel = insights.funnel(ws.store, settings, active_calls=ACTIVE_CALLS)
    versions = insights.experiments(ws.store, settings)
    report = ws.settings.home / "business-margin.html"
    report.write_text(render(margin), encoding="utf-8")
    funnel_report = ws.settings.home / "business-funnel.html"
    funnel_report.write_text(render(funnel), encoding="utf-8")
    from modelmint.pipeline import bundled_candidates, run_scout
    from modelmint.scout import render_html

    spec = bundled_candidates(ws.settings.home / "scout-candidates")
    scouted = run_scout(ws, spec, budget=SCOUT_BUDGET, quick=True, progress=progress)
    scout_report = ws.settings.home / "scout.html"
    scout_report.write_text(render_html(scouted), encoding="utf-8")
    return Business(
        prospects=len(PROSPECTS),
        calls=total,
        revenue=revenue,
        costs=costs,
        margin=margin,
        funnel=funnel,
        versions=versions,
        report=report,
        funnel_report=funnel_report,
        scout=scouted.to_dict(),
        scout_report=scout_report,
    )
