"""Fixtures of the training tests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modelmint import billing
from modelmint.serve import create_app


@pytest.fixture
def client_for(ws):
    """Makes a TestClient of the real app with the API key of tenant `acme` (plan `starter`)."""
    billing.create_plan(ws.store, "starter", price_per_1k="2.00", quota=100_000)
    billing.create_tenant(ws.store, "acme", plan="starter")
    key, _ = billing.create_key(ws.store, "acme")

    def make():
        c = TestClient(create_app(ws.settings, ws.store))
        c.headers["Authorization"] = f"Bearer {key}"
        return c

    return make
