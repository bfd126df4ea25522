"""Every route of an app, for the tests that walk them (isolation, roles)."""

from __future__ import annotations

from typing import Any


def all_routes(routes: Any) -> list:
    """Every route, including those of included routers (FastAPI >= 0.16x keeps an included
    router as one entry that holds the original router)."""
    out = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out += all_routes(inner.routes) if inner is not None else [route]
    return out
