"""The admin API's business insights (the same as `modelmint insights ...`) and exchange rates
(`modelmint fx ...`), for the dashboard and for automation. See docs/insights.md."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from modelmint import insights
from modelmint.serve.access import require
from modelmint.serve.errors import ADMIN_ERRORS
from modelmint.settings import Settings
from modelmint.store import Store

Period = Annotated[
    str | None, Query(max_length=7, description="One billing period, YYYY-MM (default: this one).")
]
Since = Annotated[
    str | None,
    Query(max_length=10, description="First day, YYYY-MM-DD (money reports: whole months)."),
]
Until = Annotated[str | None, Query(max_length=10, description="Last day, YYYY-MM-DD (included).")]
Currency = Annotated[
    str | None,
    Query(max_length=3, description="Convert every amount to this currency (needs rates)."),
]
By = Annotated[
    Literal["scenario", "tenant", "version", "plan"],
    Query(description="Group by scenario, tenant, model version or plan."),
]


class RateIn(BaseModel):
    base: str = Field(max_length=3, description="Currency converted from, e.g. USD.")
    quote: str = Field(max_length=3, description="Currency converted to, e.g. CNY.")
    rate: str = Field(max_length=40, description="How much `quote` one `base` buys, e.g. 7.12.")
    date: str = Field(max_length=10, description="From this day on, YYYY-MM-DD.")


MONEY_REPORTS = {
    "revenue": "Issued invoices (net of credit notes) and drafts, allocated to scenarios, tenants, "
    "versions or plans by the units each served; exact to the micro-unit.",
    "costs": "Measured cost to serve (compute time of every batch x its cores at the set price, "
    "storage, fixed costs) and cost per 1,000 calls.",
    "margin": "Revenue minus the cost to serve, and gross margin %, per currency or in one.",
}


def insights_router(store: Store, settings: Settings) -> APIRouter:
    r = APIRouter(
        tags=["admin"], dependencies=[Depends(require("insights"))], responses=ADMIN_ERRORS
    )

    async def run(kind: str, **options: Any) -> dict[str, Any]:
        return await run_in_threadpool(insights.REPORTS[kind], store, settings, **options)

    def money_report(kind: str, doc: str) -> Any:
        async def endpoint(
            by: By = "scenario",
            period: Period = None,
            since: Since = None,
            until: Until = None,
            currency: Currency = None,
        ) -> dict[str, Any]:
            return await run(
                kind, by=by, period=period, since=since, until=until, currency=currency
            )

        endpoint.__doc__ = doc
        return endpoint

    for kind, doc in MONEY_REPORTS.items():
        r.add_api_route(
            f"/v1/admin/insights/{kind}", money_report(kind, doc), methods=["GET"], name=kind
        )

    @r.get("/v1/admin/insights/funnel")
    async def funnel(
        by: Annotated[
            Literal["plan", "scenario"], Query(description="Group by plan or scenario.")
        ] = "plan",
        period: Annotated[
            str | None, Query(max_length=7, description="Tenants created in this month.")
        ] = None,
        since: Annotated[
            str | None, Query(max_length=10, description="Tenants created from this day.")
        ] = None,
        until: Until = None,
        active_calls: Annotated[
            int | None,
            Query(ge=1, le=1_000_000_000, description="Live calls in a month to count as active."),
        ] = None,
    ) -> dict[str, Any]:
        """Tenant created -> first call -> active -> paid, with weekly cohorts, conversion
        rates, median days between steps, and trial -> paid."""
        return await run(
            "funnel", by=by, period=period, since=since, until=until, active_calls=active_calls
        )

    @r.get("/v1/admin/insights/experiments")
    async def experiments(
        scenario: Annotated[str | None, Query(max_length=100)] = None,
        period: Period = None,
        since: Since = None,
        until: Until = None,
        currency: Currency = None,
    ) -> dict[str, Any]:
        """Each model version's calls, revenue, cost, margin and outcome rates side by side."""
        return await run(
            "experiments",
            scenario=scenario,
            period=period,
            since=since,
            until=until,
            currency=currency,
        )

    @r.get("/v1/admin/fx")
    async def list_rates() -> dict[str, Any]:
        """The exchange rates on record."""
        return {"rates": await run_in_threadpool(insights.list_rates, store)}

    @r.put("/v1/admin/fx")
    async def set_rate(body: RateIn) -> dict[str, Any]:
        """Record 1 `base` = `rate` `quote` from `date` on (until a later rate of the pair)."""
        return await run_in_threadpool(
            insights.set_rate, store, body.base, body.quote, body.rate, body.date
        )

    return r
