"""Metered calls written the way the server writes them (one MeterItem through the billing
rules), for tests that need usage on the books without running a model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import time_machine

from modelmint import billing
from modelmint.billing.rules import RULES
from modelmint.store import new_id
from modelmint.types import MeterItem, MeterOutcome


def rows(n: int, *, text: str = "x", label: str = "pos", version: int = 1) -> tuple[dict, ...]:
    """n prediction-log rows (one billed unit each)."""
    return tuple(
        dict(
            id=new_id(),
            model_version=version,
            input_text=text,
            label=label,
            score=0.9,
            latency_ms=1.0,
        )
        for _ in range(n)
    )


def meter(
    ws: Any,
    tenant: str | int,
    units: int | Sequence[dict[str, Any]],
    *,
    scenario: str = "reviews",
    unit_type: str = "predict",
    period: str | None = None,
    at: datetime | None = None,
    quota: int | None = None,
    key_id: str = "k",
    idempotency: tuple[str, str, str] | None = None,
    alert_levels: tuple[tuple[str, int, int, int], ...] = (),
) -> MeterOutcome:
    """Meter one call for `tenant` (a name or an id): `units` rows, or the rows given. With
    `at`, the clock stands at that instant while it is metered (its usage row's time)."""
    tenant_id = tenant if isinstance(tenant, int) else ws.store.billing.tenant(tenant)["id"]
    item = MeterItem(
        request_id=new_id(),
        tenant_id=tenant_id,
        key_id=key_id,
        scenario=scenario,
        period=period or billing.current_period(),
        quota=quota,
        prediction_rows=rows(units) if isinstance(units, int) else tuple(units),
        unit_type=unit_type,
        idempotency=idempotency,
        alert_levels=alert_levels,
    )
    if at is None:
        return ws.store.billing.record_request(item, RULES)
    with time_machine.travel(at, tick=False):
        return ws.store.billing.record_request(item, RULES)
