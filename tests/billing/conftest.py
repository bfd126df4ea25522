"""Every billing test runs on the pinned clock of tests/clock.py."""

from __future__ import annotations

import pytest
import time_machine
from tests.clock import NOW


@pytest.fixture(autouse=True)
def clock():
    """The frozen wall clock (datetime.now, time.time); `clock.move_to(...)` / `clock.shift(s)`."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
