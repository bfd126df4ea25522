"""Alerts from signals: raised once when a signal crosses into ``alert``, cleared once when it
is back to ``ok``; ``insufficient`` (too few predictions to judge) changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    action: str  # raise | clear
    signal: str
    alert_id: str | None  # the open alert a clear closes
    details: dict[str, Any]


def changes(signals: dict[str, Any], open_alerts: dict[str, str]) -> list[Change]:
    """What to do given this evaluation's `signals` and the open alerts (signal -> alert id)."""
    out = []
    for name, sig in signals.items():
        state = sig["state"]
        if state == "alert" and name not in open_alerts:
            out.append(Change("raise", name, None, sig))
        elif state == "ok" and name in open_alerts:
            out.append(Change("clear", name, open_alerts[name], sig))
    return out
