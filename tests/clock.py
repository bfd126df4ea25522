"""The pinned clock of the tests that depend on the calendar (billing periods, trials, expiry).

`MODELMINT_TEST_CLOCK` (ISO 8601, UTC) sets the instant; `scripts/test` runs the billing suite
again under the dates that break calendar code: the 1st and the last day of a month, 29 February,
and 31 December 23:59:59 (the next second is another year). The default is an ordinary mid-month
day. The clock does not tick (`tick=False`): a test that needs time to pass moves it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

DEFAULT = "2026-11-15T12:00:00Z"
EDGE_DATES = (
    "2027-03-01T00:00:00Z",  # the 1st, just after a 28-day February
    "2027-01-31T18:30:00Z",  # the last day of a 31-day month
    "2028-02-29T09:00:00Z",  # a leap day
    "2026-12-31T23:59:59Z",  # one second before a new year
)


def pinned() -> datetime:
    raw = os.environ.get("MODELMINT_TEST_CLOCK") or DEFAULT
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)


def period_of(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def previous_period(at: datetime) -> str:
    year, month = (at.year, at.month - 1) if at.month > 1 else (at.year - 1, 12)
    return f"{year:04d}-{month:02d}"


NOW = pinned()
THIS = period_of(NOW)  # the open period at the pinned instant
LAST = previous_period(NOW)  # the period that ended last


def start_of(period: str) -> datetime:
    year, month = map(int, period.split("-"))
    return datetime(year, month, 1, tzinfo=UTC)


def inside(period: str) -> datetime:
    """An instant well inside `period` (the 10th at noon): when its usage is metered in tests."""
    return start_of(period).replace(day=10, hour=12)
