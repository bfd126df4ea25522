"""The admin API's monitoring: a scenario's report over a window (the same as `modelmint
monitor`), and the monitoring alerts (the same as `modelmint alerts list --monitoring`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from modelmint import monitor
from modelmint.errors import InvalidInput
from modelmint.serve.access import require
from modelmint.serve.errors import ADMIN_ERRORS
from modelmint.settings import Settings
from modelmint.store import Store

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def since_value(since: datetime | None, now: datetime) -> datetime | None:
    """`since` in UTC (a naive time is UTC), between 2000-01-01 and now."""
    if since is None:
        return None
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    if not EARLIEST <= since <= now:
        raise InvalidInput(
            f"since {since.isoformat()} is out of range; give a time between 2000-01-01 and now"
        )
    return since


def monitoring_router(store: Store, settings: Settings) -> APIRouter:
    r = APIRouter(
        tags=["admin"], dependencies=[Depends(require("operations"))], responses=ADMIN_ERRORS
    )

    @r.get("/v1/admin/scenarios/{scenario}/monitor")
    async def scenario_monitor(
        scenario: str,
        window: Annotated[
            str,
            Query(
                max_length=12,
                description="A duration (30m, 1h, 1d; 1m to 366d) or a number of predictions "
                "(10 to 10,000,000).",
            ),
        ] = "1d",
        since: Annotated[
            datetime | None,
            Query(description="Start of the window (ISO 8601, UTC when no offset)."),
        ] = None,
        series: Annotated[
            bool, Query(description="Include each signal over 12 slices of the window.")
        ] = True,
    ) -> dict[str, Any]:
        """Input drift, output drift, quality (once feedback arrives) and each outcome event's
        rate and value per call, for the production version over the window, with the signals
        that alerts are raised on. See docs/monitoring.md."""
        now = datetime.now(UTC)
        spec = monitor.parse_window(window, since_value(since, now))
        return await run_in_threadpool(
            monitor.monitor_report, store, settings, scenario, spec, now=now, series=series
        )

    @r.get("/v1/admin/monitor/alerts")
    async def monitor_alerts(
        scenario: Annotated[str | None, Query(max_length=100)] = None,
    ) -> dict[str, Any]:
        """Monitoring alerts, newest first: raised once per crossing, cleared on recovery."""
        rows = await run_in_threadpool(store.monitoring.alerts, scenario)
        return {"alerts": rows}

    return r
