"""The metering rules: what one metered call's outcome is, and which usage alerts it crosses.

Pure functions of values, no I/O. The store's metering transaction calls them for each call in
arrival order with what it read under its locks (`store.billing.record_requests(items, RULES)`;
the writer in `billing/metering.py` passes them), and writes what they decide. The decisions
live here, in the billing stage; the store keeps the mechanics that make them exact: counters
locked in one order and written in the same transaction, Idempotency-Keys claimed by insert
(an accepted call whose key is taken becomes `MeterOutcome.CONFLICT`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelmint.store.repos import AlertLevel, MeteredKey
from modelmint.types import MeterItem, MeterOutcome


def key_outcome(item: MeterItem, key: MeteredKey | None, now: datetime) -> MeterOutcome:
    """A cached caller's key, read again in the metering transaction: revoked (or gone),
    expired or suspended since it was cached refuses the call; a plan changed since makes it
    `STALE` (the gateway authenticates again and meters under the new plan)."""
    if key is None or key.revoked_at is not None:
        return MeterOutcome.REVOKED
    if key.expires_at is not None and key.expires_at <= now:
        return MeterOutcome.EXPIRED
    if key.tenant_status == "suspended":
        return MeterOutcome.SUSPENDED
    return MeterOutcome.OK if key.plan_id == item.plan_id else MeterOutcome.STALE


def decide(
    item: MeterItem, key: MeteredKey | None, used_before: int, now: datetime
) -> MeterOutcome:
    """The outcome of one call before its Idempotency-Key is claimed: the key re-check (when
    the caller came from the key cache, ``item.plan_id`` set), then the quota. A live call that
    would take the tenant's period counter past ``item.quota`` is refused whole (a 3-unit call
    with 2 units left is refused; a 2-unit call then succeeds). Test traffic has no quota."""
    if item.plan_id is not None:
        outcome = key_outcome(item, key, now)
        if outcome != MeterOutcome.OK:
            return outcome
    if item.live and item.quota is not None and used_before + item.units > item.quota:
        return MeterOutcome.OVER_QUOTA
    return MeterOutcome.OK


def crossed_alerts(item: MeterItem, used_before: int, used_after: int) -> Sequence[AlertLevel]:
    """The alert levels (kind, threshold %, level, cap) an accepted live call crosses: those
    with ``used_before < level <= used_after``. Each is crossed by exactly one call, since the
    counter moves under its lock, so each alert fires once whatever the number of processes."""
    if not item.live:
        return ()
    return tuple(a for a in item.alert_levels if used_before < a[2] <= used_after)


class MeteringRules:
    """`decide` and `crossed_alerts` as the store's `MeterRules`."""

    decide = staticmethod(decide)
    crossed_alerts = staticmethod(crossed_alerts)


RULES = MeteringRules()
"""The rules every metering transaction applies (what `GroupCommit` passes)."""
