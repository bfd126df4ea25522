"""Which predictions a report looks at: the last `1h`/`1d` (by time) or the last `10000` (by
count), optionally from `--since`; and the slices of a window that the charts plot."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from modelmint.errors import InvalidInput

_TIME = re.compile(r"(\d{1,6})([mhd])")
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
MIN_SPAN, MAX_SPAN = timedelta(minutes=1), timedelta(days=366)
MIN_COUNT, MAX_COUNT = 10, 10_000_000
SLICES = 12


@dataclass(frozen=True)
class WindowSpec:
    """A window by time (`span`) or by count (`count`), ending at `until` (None: now) or
    starting at `since`."""

    text: str
    span: timedelta | None = None
    count: int | None = None
    since: datetime | None = None

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"spec": self.text}
        if self.since is not None:
            out["since"] = self.since.isoformat()
        return out

    def bounds(self, now: datetime) -> tuple[datetime | None, datetime]:
        """(start, end) for a time window; (since or None, now) for a count window."""
        if self.span is None:
            return self.since, now
        if self.since is not None:
            return self.since, min(now, self.since + self.span)
        return now - self.span, now


def parse_window(text: str, since: datetime | None = None) -> WindowSpec:
    """`1h`, `30m`, `7d` (time, 1 minute to 366 days) or `10000` (the last N predictions,
    10 to 10,000,000)."""
    raw = (text or "").strip().lower()
    m = _TIME.fullmatch(raw)
    if m:
        span = int(m.group(1)) * UNITS[m.group(2)]
        if not MIN_SPAN <= span <= MAX_SPAN:
            raise InvalidInput(f"window '{text}' is out of range; use 1m to 366d, e.g. --window 1d")
        return WindowSpec(raw, span=span, since=since)
    if raw.isdigit():
        count = int(raw)
        if not MIN_COUNT <= count <= MAX_COUNT:
            raise InvalidInput(
                f"window '{text}' is out of range; a count window holds {MIN_COUNT:,} to "
                f"{MAX_COUNT:,} predictions, e.g. --window 10000"
            )
        return WindowSpec(raw, count=count, since=since)
    raise InvalidInput(
        f"window '{text[:40]}' is not understood; use a duration (30m, 1h, 1d) or a number of "
        "predictions (10000)"
    )


def slices(n: int, parts: int = SLICES) -> list[range]:
    """`parts` consecutive, near-equal slices of n rows (fewer when n is small)."""
    parts = max(1, min(parts, n))
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return [range(a, b) for a, b in itertools.pairwise(edges) if b > a]
