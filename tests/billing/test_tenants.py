"""Tenants: status (trial, active, suspended), currency from the plan, contacts; through the
CLI and over HTTP."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from modelmint import billing
from modelmint.cli import app as cli_app
from modelmint.errors import InvalidInput
from modelmint.serve import create_app


def test_suspension_takes_effect_at_once_and_is_reversible(ws, tiny_trained):
    billing.create_plan(ws.store, "eur", price_per_1k="1.50", currency="EUR")
    env = {
        "MODELMINT_HOME": str(ws.settings.home),
        "MODELMINT_DATABASE_URL": ws.settings.sqlalchemy_url,
    }
    run = CliRunner().invoke
    r = run(
        cli_app,
        [
            "tenants",
            "create",
            "acme",
            "--plan",
            "eur",
            "--status",
            "trial",
            "--contact-name",
            "Ana",
            "--contact-email",
            "billing@acme.example",
            "--json",
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out.pop("trial_ends_at") > "2026"  # the default 14-day trial
    assert out == {"name": "acme", "plan": "eur", "status": "trial", "currency": "EUR"}
    key, _ = billing.create_key(ws.store, "acme")
    url = "/v1/scenarios/reviews/predict"
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        assert c.post(url, json={"inputs": ["好"]}).status_code == 200  # trial tenants call
        assert run(cli_app, ["tenants", "suspend", "acme"], env=env).exit_code == 0
        r = c.post(url, json={"inputs": ["好"]})
        assert r.status_code == 403 and "suspended" in r.json()["error"]
        assert run(cli_app, ["tenants", "activate", "acme"], env=env).exit_code == 0
        assert c.post(url, json={"inputs": ["好"]}).status_code == 200
    listed = json.loads(run(cli_app, ["tenants", "list", "--json"], env=env).output)
    assert listed[0]["contact_email"] == "billing@acme.example" and listed[0]["status"] == "active"
    assert billing.usage_summary(ws.store, tenant="acme")[0]["total_units"] == 2  # not the 403


def test_bad_tenant_input_is_refused_with_the_fix(ws):
    billing.create_plan(ws.store, "usd", price_per_1k="1.00")
    with pytest.raises(InvalidInput, match="differs from plan usd's USD"):
        billing.create_tenant(ws.store, "a", plan="usd", currency="EUR")
    with pytest.raises(InvalidInput, match="not an email"):
        billing.create_tenant(ws.store, "a", plan="usd", contact_email="nobody")
    with pytest.raises(InvalidInput, match="trial or active"):
        billing.create_tenant(ws.store, "a", plan="usd", status="suspended")
    with pytest.raises(InvalidInput, match="not one of"):
        billing.set_tenant_status(ws.store, "a", "closed")
    assert ws.store.billing.tenants() == []  # nothing half-written
