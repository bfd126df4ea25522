"""Insights run on the pinned clock of tests/clock.py (periods, drafts, funnels)."""

from __future__ import annotations

import pytest
import time_machine
from tests.clock import NOW


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
