"""The time span of a report: one billing period (``--period 2026-11``), a range of days
(``--since 2026-10-01 --until 2026-11-30``, both days included), or, by default, the open
period. Money reports round a range out to whole billing periods (an invoice is monthly);
the funnel uses the days as given."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from modelmint.billing.core import current_period, validate_period
from modelmint.billing.pricing import period_bounds
from modelmint.errors import InvalidInput

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Span:
    """[start, end) in UTC, and the billing periods it touches (oldest first)."""

    start: datetime
    end: datetime
    periods: tuple[str, ...]
    label: str

    def whole_periods(self) -> Span:
        """The span rounded out to whole billing periods."""
        start, _ = period_bounds(self.periods[0])
        _, end = period_bounds(self.periods[-1])
        label = (
            self.periods[0] if len(self.periods) == 1 else f"{self.periods[0]}..{self.periods[-1]}"
        )
        return Span(start, end, self.periods, label)

    def as_json(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "periods": list(self.periods),
            "label": self.label,
        }


def _day(text: str, flag: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise InvalidInput(f"{flag} '{text[:40]}' is not a date; write YYYY-MM-DD, e.g. 2026-11-01")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{flag} '{text[:40]}' is not a calendar date; e.g. 2026-11-30"
        ) from None


def periods_between(start: datetime, end: datetime) -> tuple[str, ...]:
    out = []
    p = current_period(start)
    while True:
        ps, pe = period_bounds(p)
        if ps >= end:
            break
        out.append(p)
        p = current_period(pe)
    return tuple(out)


def parse_span(
    period: str | None = None,
    since: str | None = None,
    until: str | None = None,
    *,
    now: datetime | None = None,
    default_all: bool = False,
) -> Span:
    """A span from the CLI's or the API's options; a future span is refused."""
    now = now or datetime.now(UTC)
    if period is not None and (since is not None or until is not None):
        raise InvalidInput("give --period or --since/--until, not both")
    if period is not None:
        p = validate_period(period)
        if p > current_period(now):
            raise InvalidInput(
                f"period {p} is in the future (this is {current_period(now)}); give a period up "
                "to this one"
            )
        start, end = period_bounds(p)
        return Span(start, end, (p,), p)
    if since is None and until is None:
        if default_all:
            return Span(EARLIEST, now, periods_between(EARLIEST, now), "all time")
        p = current_period(now)
        start, end = period_bounds(p)
        return Span(start, end, (p,), p)
    d0 = _day(since, "--since") if since is not None else EARLIEST.date()
    d1 = _day(until, "--until") if until is not None else now.date()
    if d0 > now.date():
        raise InvalidInput(f"--since {d0} is in the future; give a day up to {now.date()}")
    if d1 < d0:
        raise InvalidInput(f"--until {d1} is before --since {d0}; give --until on or after it")
    if d1 > now.date():
        raise InvalidInput(f"--until {d1} is in the future; give a day up to {now.date()}")
    start = datetime(d0.year, d0.month, d0.day, tzinfo=UTC)
    end = datetime(d1.year, d1.month, d1.day, tzinfo=UTC) + timedelta(days=1)
    return Span(start, end, periods_between(start, end), f"{d0}..{d1}")
