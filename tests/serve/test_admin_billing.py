"""The business's admin HTTP API: plans, tenants, keys, invoices and alerts end to end, with
the admin token; the same rules as the CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.usage import meter

from modelmint.serve import create_app
from modelmint.types import MeterOutcome

TOKEN = "admin-secret-of-at-least-32-characters"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PREDICT = "/v1/scenarios/reviews/predict"


def test_admin_api_runs_the_business(ws, tiny_trained):
    settings = ws.settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    with TestClient(create_app(settings, ws.store)) as c:
        assert c.post("/v1/admin/plans", json={"name": "x", "price_per_1k": "1"}).status_code == 401
        r = c.post(
            "/v1/admin/plans",
            json={
                "name": "pro",
                "price_per_1k": "2.00",
                "quota": 1000,
                "budget": "10.00",
                "concurrency": 4,
            },
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        bad = c.post("/v1/admin/plans", json={"name": "neg", "price_per_1k": "-1"}, headers=ADMIN)
        assert bad.status_code == 400
        # a customer since October, whose October is invoiced below
        with time_machine.travel(datetime(2026, 10, 1, tzinfo=UTC)):
            r = c.post(
                "/v1/admin/tenants",
                json={
                    "name": "acme",
                    "plan": "pro",
                    "contact_email": "ap@acme.example",
                    "webhook_url": "https://acme.example/hooks",
                },
                headers=ADMIN,
            )
        assert r.status_code == 201 and r.json()["webhook_secret"].startswith("whsec_")
        listed = c.get("/v1/admin/tenants", headers=ADMIN).json()["tenants"]
        assert listed[0]["name"] == "acme" and "webhook_secret" not in listed[0]
        r = c.post(
            "/v1/admin/keys", json={"tenant": "acme", "scenarios": ["reviews"]}, headers=ADMIN
        )
        assert r.status_code == 201
        key, key_id = r.json()["key"], r.json()["id"]
        user = {"Authorization": f"Bearer {key}"}
        assert c.post(PREDICT, json={"inputs": ["好"]}, headers=user).status_code == 200
        assert (
            c.post("/v1/admin/tenants/acme/suspend", headers=ADMIN).json()["status"] == "suspended"
        )
        assert c.post(PREDICT, json={"inputs": ["好"]}, headers=user).status_code == 403
        c.post("/v1/admin/tenants/acme/activate", headers=ADMIN)
        r = c.post(f"/v1/admin/keys/{key_id}/rotate", json={"overlap": "0s"}, headers=ADMIN)
        new_key = r.json()["key"]
        assert c.post(PREDICT, json={"inputs": ["好"]}, headers=user).status_code == 401
        new_user = {"Authorization": f"Bearer {new_key}"}
        assert c.post(PREDICT, json={"inputs": ["好"]}, headers=new_user).status_code == 200
        keys = c.get("/v1/admin/keys", params={"tenant": "acme"}, headers=ADMIN).json()["keys"]
        assert len(keys) == 2 and all("key" not in k for k in keys)
        assert key not in str(keys) and new_key not in str(keys)
        c.post(f"/v1/admin/keys/{r.json()['id']}/revoke", headers=ADMIN)
        assert c.post(PREDICT, json={"inputs": ["好"]}, headers=new_user).status_code == 401
        # last month's usage, then its invoice, a credit note, and the tenant's own view
        assert meter(ws, "acme", 500, period="2026-10") == MeterOutcome.OK
        closed = c.post("/v1/admin/invoices/close", json={"period": "2026-10"}, headers=ADMIN)
        inv = closed.json()["invoices"][0]
        assert inv["total"] == "1.00" and inv["created"] is True
        assert (
            c.post("/v1/admin/invoices/close", json={"period": "2026-10"}, headers=ADMIN).json()[
                "invoices"
            ][0]["created"]
            is False
        )
        cn = c.post(
            f"/v1/admin/invoices/{inv['number']}/credit",
            json={"amount": "0.25", "reason": "outage"},
            headers=ADMIN,
        )
        assert cn.status_code == 201 and cn.json()["total"] == "-0.25"
        too_much = c.post(
            f"/v1/admin/invoices/{inv['number']}/credit",
            json={"amount": "5", "reason": "x"},
            headers=ADMIN,
        )
        assert too_much.status_code == 409
        assert len(c.get("/v1/admin/invoices", headers=ADMIN).json()["invoices"]) == 2
        assert c.get(f"/v1/admin/invoices/{inv['number']}", headers=ADMIN).json()["total"] == "1.00"
        assert c.get("/v1/admin/alerts", headers=ADMIN).json() == {"alerts": []}
