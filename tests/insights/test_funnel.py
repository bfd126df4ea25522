"""The funnel on a fixed calendar of tenants, calls and invoices: counts per step, conversion,
median days between steps, weekly cohorts, trial -> paid; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from tests.clock import LAST, start_of
from tests.usage import meter

from modelmint import billing, insights
from modelmint.billing import invoices
from modelmint.errors import InvalidInput
from modelmint.types import MeterOutcome


def _at(days: float):
    return start_of(LAST) + timedelta(days=days)


@pytest.fixture
def calendar(ws):
    s = ws.store
    billing.create_plan(s, "payg", price_per_1k="2.00")
    billing.create_plan(s, "trial", price_per_1k="2.00", trial_days=7)
    for name, plan, day in (
        ("t1", "payg", 0),
        ("t2", "payg", 1),
        ("t3", "trial", 8),
        ("t4", "trial", 9),
    ):
        with time_machine.travel(_at(day), tick=False):
            billing.create_tenant(s, name, plan=plan)
    calls = [
        ("t1", 9.5, "reviews"),
        ("t1", 9.6, "reviews"),
        ("t1", 9.7, "tickets"),
        ("t1", 9.8, "reviews"),  # t1's 3rd... 4th call of the month: active at 9.7 (3 calls)
        ("t2", 9.5, "reviews"),
        ("t3", 10, "reviews"),  # in the trial (until day 15): free
        ("t3", 20, "reviews"),
        ("t3", 21, "reviews"),
    ]
    for tenant, day, scenario in calls:
        out = meter(ws, tenant, 5, scenario=scenario, period=LAST, at=_at(day))
        assert out == MeterOutcome.OK
    invoices.close_period(s, LAST)
    return ws


def test_funnel_by_plan_on_a_fixed_calendar(calendar, settings):
    rep = insights.funnel(calendar.store, settings, active_calls=3)
    rows = {r["plan"]: r for r in rep["rows"]}
    payg, trial = rows["payg"], rows["trial"]
    assert [payg[s] for s in ("created", "first_call", "active", "paid")] == [2, 2, 1, 2]
    assert [trial[s] for s in ("created", "first_call", "active", "paid")] == [2, 1, 1, 1]
    assert payg["created_to_first_call"] == 1.0 and trial["created_to_first_call"] == 0.5
    assert payg["first_call_to_active"] == 0.5
    assert payg["conversion"] == 1.0 and trial["conversion"] == 0.5
    # t1: created day 0, first call 9.5 days later; t2: created day 1, 8.5 days: median 9
    assert payg["median_days_created_to_first_call"] == 9.0
    # t1 became active on its 3rd call of the month (day 9.7); t3 on day 21 (its 3rd)
    assert payg["median_days_first_call_to_active"] == 0.2
    assert trial["median_days_first_call_to_active"] == 11.0
    assert rep["total"]["created"] == 4 and rep["total"]["paid"] == 3
    for plan in ("payg", "trial"):  # weekly cohorts add up to the plan's row
        weeks = [c for c in rep["cohorts"] if c["plan"] == plan]
        for step in ("created", "first_call", "active", "paid"):
            assert sum(c[step] for c in weeks) == rows[plan][step]
    assert rep["trials"] == [
        {
            "plan": "trial",
            "trials": 2,
            "ended": 2,
            "paid": 1,
            "trial_to_paid": 0.5,
            "median_days_trial_end_to_paid": rep["trials"][0]["median_days_trial_end_to_paid"],
        }
    ]
    # a stricter threshold: nobody is active
    strict = insights.funnel(calendar.store, settings, active_calls=100)
    assert all(r["active"] == 0 for r in strict["rows"])
    # the cohort of one period only; tenants created later are not in it
    assert insights.funnel(calendar.store, settings, period=LAST)["total"]["created"] == 4


def test_funnel_by_scenario_counts_adoption(calendar, settings):
    rep = insights.funnel(calendar.store, settings, by="scenario", active_calls=3)
    rows = {r["scenario"]: r for r in rep["rows"]}
    assert rows["reviews"]["created"] == 4 and rows["reviews"]["first_call"] == 3
    assert rows["tickets"]["first_call"] == 1 and rows["tickets"]["active"] == 0
    assert rows["tickets"]["paid"] == 1  # t1's invoice carries its tickets calls
    with pytest.raises(InvalidInput, match="not one of plan, scenario"):
        insights.funnel(calendar.store, settings, by="version")
