"""The prediction log as a report reads it: columns straight from the driver (no SQLAlchemy row
processing), times as UTC datetime64, windows by time and by count, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from modelmint import billing, monitor
from modelmint.monitor.service import read_window
from modelmint.store import new_id
from modelmint.store import tables as t
from modelmint.store.db import as_times

START = datetime(2026, 2, 28, 23, 59, 58, 123456, tzinfo=UTC)


@pytest.fixture
def logged(ws):
    """30 predictions of scenario `s`, one per second from START (versions 1 and 2 alternate by
    tens), and 5 of another scenario interleaved."""
    billing.create_plan(ws.store, "p", price_per_1k="1.00")
    tenant = billing.create_tenant(ws.store, "t", plan="p")

    def row(i: int, scenario: str = "s") -> dict:
        return dict(
            id=new_id(),
            request_id=new_id(),
            tenant_id=tenant["id"],
            key_id="k",
            scenario=scenario,
            model_version=1 + (i // 10) % 2,
            input_text=f"text {i}",
            label="pos" if i % 3 else "neg",
            score=i / 100,
            latency_ms=1.0,
            created_at=START + timedelta(seconds=i),
            drift=None if i % 7 == 0 else np.full(4, i, dtype=np.float32).tobytes(),
            arm="shadow" if i == 5 else None,
        )

    rows = [row(i) for i in range(30)] + [row(i, "other") for i in range(5)]
    with ws.store.db.write() as c:
        c.execute(t.predictions.insert(), rows)
    return rows


def test_time_window_reads_columns_oldest_first(ws, logged):
    spec = monitor.parse_window("10m", since=START + timedelta(seconds=10))
    window, labels = read_window(ws.store, "s", spec, START + timedelta(seconds=25))
    assert len(window) == 15  # seconds 10..24: [since, now)
    assert window.ids.tolist() == [r["id"] for r in logged[10:25]]
    assert window.versions.dtype == np.int64 and window.versions.tolist() == [2] * 10 + [1] * 5
    assert window.scores.tolist() == [i / 100 for i in range(10, 25)]
    assert window.texts.tolist() == [f"text {i}" for i in range(10, 25)]
    assert window.drift[4] is None and window.drift[5] == np.full(4, 15, np.float32).tobytes()
    assert window.time(0) == START + timedelta(seconds=10)  # microseconds kept, UTC
    assert window.time(-1) == START + timedelta(seconds=24)
    assert window.created_at.dtype == np.dtype("datetime64[us]")
    assert labels.truth == {} and labels.outcomes == []


def test_count_window_is_the_newest_n_without_texts(ws, logged):
    spec = monitor.parse_window("12")
    window, _ = read_window(ws.store, "s", spec, START + timedelta(hours=1), with_text=False)
    assert window.ids.tolist() == [r["id"] for r in logged[18:30]]
    assert window.texts.tolist() == [None] * 12
    assert window.time(0) == START + timedelta(seconds=18)
    assert window.arms.tolist() == [None] * 12


def test_take_by_mask_and_slice(ws, logged):
    window, _ = read_window(ws.store, "s", monitor.parse_window("30"), START + timedelta(hours=1))
    mine = window.take(window.versions == 1)
    assert len(mine) == 20 and set(mine.versions.tolist()) == {1}
    part = window.take(slice(5, 8))
    assert part.arms.tolist() == ["shadow", None, None]
    assert part.time(0) == START + timedelta(seconds=5)
    empty, _ = read_window(ws.store, "nobody", monitor.parse_window("30"), START)
    assert len(empty) == 0 and empty.created_at.dtype == np.dtype("datetime64[us]")


def test_as_times_reads_every_form_a_driver_gives():
    plus_two = timezone(timedelta(hours=2))
    assert as_times(["2026-12-31 23:59:59.999999"])[0] == np.datetime64(
        "2026-12-31T23:59:59.999999"
    )
    with_offset = as_times(["2027-01-01 01:00:00+02:00"])  # text with an offset: the slow road
    assert with_offset[0] == np.datetime64("2026-12-31T23:00:00")
    aware = as_times([datetime(2027, 1, 1, 1, 0, tzinfo=plus_two), datetime(2024, 2, 29)])
    assert aware.tolist() == [datetime(2026, 12, 31, 23, 0), datetime(2024, 2, 29)]
    assert as_times([]).dtype == np.dtype("datetime64[us]")


def test_as_times_text_with_a_zulu_suffix_or_no_fraction():
    out = as_times(["2026-12-31 23:59:59", "2027-01-01T00:00:00Z", "2026-06-01 12:00:00.5"])
    assert out.tolist() == [
        datetime(2026, 12, 31, 23, 59, 59),
        datetime(2027, 1, 1),
        datetime(2026, 6, 1, 12, 0, 0, 500000),
    ]
