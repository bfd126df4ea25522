"""The billing calendar across a year boundary: the last second of 31 December belongs to
December, the next second to January; December closes from 1 January 00:00:00 and only then;
the usage of each second lands on its own month's invoice. Runs on the pinned clock, whatever the
real date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelmint import billing
from modelmint.billing import invoices
from modelmint.billing.core import seconds_to_period_end
from modelmint.billing.rules import RULES
from modelmint.errors import InvalidInput
from modelmint.store import new_id
from modelmint.types import MeterItem, MeterOutcome

LAST_SECOND = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
NEW_YEAR = datetime(2027, 1, 1, tzinfo=UTC)


def _meter(ws, tenant: str, units: int) -> None:
    ten = ws.store.billing.tenant(tenant)
    rows = [
        dict(id=new_id(), model_version=1, input_text="x", label="p", score=1.0, latency_ms=1.0)
        for _ in range(units)
    ]
    assert (
        ws.store.billing.record_request(
            MeterItem(
                request_id=new_id(),
                tenant_id=ten["id"],
                key_id="k",
                scenario="reviews",
                period=billing.current_period(),  # what the gateway passes: the period of "now"
                quota=10_000,
                prediction_rows=tuple(rows),
            ),
            RULES,
        )
        == MeterOutcome.OK
    )


def test_the_last_second_of_a_year_and_the_first_of_the_next(ws, clock):
    clock.move_to(datetime(2026, 12, 1, tzinfo=UTC))
    billing.create_plan(ws.store, "payg", price_per_1k="1000.00", quota=10_000)
    billing.create_tenant(ws.store, "acme", plan="payg")
    clock.move_to(LAST_SECOND)
    assert billing.current_period() == "2026-12"
    assert seconds_to_period_end() == 1
    _meter(ws, "acme", 3)
    with pytest.raises(InvalidInput, match="has not ended"):
        invoices.close_period(ws.store, "2026-12")
    clock.move_to(NEW_YEAR)
    assert billing.current_period() == "2027-01"
    _meter(ws, "acme", 5)
    tid = ws.store.billing.tenant("acme")["id"]
    assert ws.store.billing.units_used(tid, "2026-12") == 3  # the quota starts again
    assert ws.store.billing.units_used(tid, "2027-01") == 5
    [(december, created)] = invoices.close_period(ws.store, "2026-12")
    assert created and december["subtotal_micros"] == 3_000_000
    assert invoices.draft_invoice(ws.store, "acme")["subtotal_micros"] == 5_000_000
    with pytest.raises(InvalidInput, match="has not ended"):
        invoices.close_period(ws.store, "2027-01")
