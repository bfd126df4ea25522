"""The metering rules as pure functions (no database): the key re-check, the quota at its
boundary, test traffic, and which alert levels a call crosses. The store applies them inside
its transaction (tests/billing/test_metering.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelmint.billing.rules import RULES, crossed_alerts, decide
from modelmint.store.repos import MeteredKey
from modelmint.types import MeterItem, MeterOutcome

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
ROW = dict(id="p", model_version=1, input_text="x", label="p", score=1.0, latency_ms=1.0)
LEVELS = (("quota", 80, 8, 10), ("quota", 100, 10, 10))


def _item(units: int = 1, **kw) -> MeterItem:
    fields = dict(
        request_id="r",
        tenant_id=1,
        key_id="k",
        scenario="reviews",
        period="2026-12",
        quota=10,
        prediction_rows=(ROW,) * units,
        alert_levels=LEVELS,
    )
    return MeterItem(**{**fields, **kw})


def _key(**kw) -> MeteredKey:
    return MeteredKey(
        **{**dict(revoked_at=None, expires_at=None, tenant_status="active", plan_id=7), **kw}
    )


def test_the_quota_refuses_a_call_whole_at_the_boundary():
    assert decide(_item(3), None, 8, NOW) == MeterOutcome.OVER_QUOTA  # 2 left, 3 asked
    assert decide(_item(2), None, 8, NOW) == MeterOutcome.OK  # exactly to the quota
    assert decide(_item(1), None, 10, NOW) == MeterOutcome.OVER_QUOTA
    assert decide(_item(1_000, quota=None), None, 10**9, NOW) == MeterOutcome.OK  # no cap
    assert decide(_item(50, live=False), None, 0, NOW) == MeterOutcome.OK  # test traffic


def test_a_cached_key_is_rechecked_before_the_quota():
    item = _item(plan_id=7)
    assert decide(item, _key(), 0, NOW) == MeterOutcome.OK
    assert decide(item, None, 0, NOW) == MeterOutcome.REVOKED  # the key is gone
    assert decide(item, _key(revoked_at=NOW), 0, NOW) == MeterOutcome.REVOKED
    assert decide(item, _key(expires_at=NOW), 0, NOW) == MeterOutcome.EXPIRED
    later = NOW + timedelta(seconds=1)
    assert decide(item, _key(expires_at=later), 0, NOW) == MeterOutcome.OK
    assert decide(item, _key(tenant_status="suspended"), 0, NOW) == MeterOutcome.SUSPENDED
    assert decide(item, _key(plan_id=8), 0, NOW) == MeterOutcome.STALE
    # a revoked key answers "revoked" even when the call is also over quota
    assert decide(item, _key(revoked_at=NOW), 10, NOW) == MeterOutcome.REVOKED
    # without plan_id (authenticated just now) the key is not looked at
    assert decide(_item(), None, 0, NOW) == MeterOutcome.OK


def test_each_alert_level_is_crossed_by_exactly_one_call():
    assert crossed_alerts(_item(), 6, 7) == ()
    assert crossed_alerts(_item(), 7, 8) == (LEVELS[0],)
    assert crossed_alerts(_item(), 8, 9) == ()  # 80% was crossed by the call before
    assert crossed_alerts(_item(), 6, 10) == LEVELS  # one call crossing both
    assert crossed_alerts(_item(live=False), 0, 10) == ()  # test traffic never alerts
    assert RULES.decide is decide and RULES.crossed_alerts is crossed_alerts
