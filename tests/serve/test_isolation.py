"""Tenant isolation on every tenant route, and raw API keys never stored, logged or echoed.

The route list is read from the app itself: a new tenant route without an isolation check
here fails `test_every_tenant_route_has_an_isolation_check`."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.routes import all_routes

from modelmint import billing
from modelmint.serve import create_app
from modelmint.store import tables

PREDICT = "/v1/scenarios/reviews/predict"


@pytest.fixture
def two_tenants(ws, tiny_trained):
    billing.create_plan(ws.store, "p", price_per_1k="1.00", quota=1000)
    keys = {}
    for name in ("alpha", "beta"):
        billing.create_tenant(ws.store, name, plan="p")
        keys[name] = billing.create_key(ws.store, name)[0]
    with TestClient(create_app(ws.settings, ws.store)) as c:
        yield c, keys


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


def _alpha_prediction(c, keys) -> str:
    r = c.post(PREDICT, json={"inputs": ["质量很好"]}, headers=_auth(keys["alpha"]))
    assert r.status_code == 200
    return r.json()["predictions"][0]["id"]


def _feedback(c, keys, ws):
    pid = _alpha_prediction(c, keys)
    r = c.post(
        "/v1/feedback", json={"prediction_id": pid, "label": "neg"}, headers=_auth(keys["beta"])
    )
    assert r.status_code == 404  # beta cannot even learn that alpha's prediction exists
    assert ws.store.feedback.counts("reviews")["feedback"] == 0


def _outcomes(c, keys, ws):
    pid = _alpha_prediction(c, keys)
    r = c.post(
        "/v1/outcomes",
        json={"prediction_id": pid, "event": "refunded", "value": 10},
        headers=_auth(keys["beta"]),
    )
    assert r.status_code == 404
    assert ws.store.feedback.counts("reviews")["outcomes"] == 0


def _usage(c, keys, ws):
    _alpha_prediction(c, keys)
    mine = c.get("/v1/usage", headers=_auth(keys["beta"])).json()
    assert mine["tenant"] == "beta" and mine["total_units"] == 0  # alpha's unit is not there
    # there is no parameter that names another tenant: an unknown one is refused, not obeyed
    r = c.get("/v1/usage", params={"tenant": "alpha"}, headers=_auth(keys["beta"]))
    assert r.status_code == 200 and r.json()["tenant"] == "beta"


def _predict(c, keys, ws):
    _alpha_prediction(c, keys)
    c.post(PREDICT, json={"inputs": ["太差了"]}, headers=_auth(keys["beta"]))
    # each tenant's prediction is logged and billed to itself only
    per_tenant = billing.usage_summary(ws.store)
    assert {r["tenant"]: r["total_units"] for r in per_tenant} == {"alpha": 1, "beta": 1}


def _invoices(c, keys, ws):
    from modelmint.billing import invoices

    _alpha_prediction(c, keys)
    for t in ws.store.billing.tenants():  # an issued invoice for alpha, from last month
        ws.store.invoices.issue(
            {
                "id": t["name"] + "-inv",
                "number": f"INV-T-{t['name']}",
                "kind": "invoice",
                "tenant_id": t["id"],
                "period": "2026-10",
                "currency": "USD",
                "refers_to": None,
                "lines": [],
                "subtotal_micros": 0,
                "discount_micros": 0,
                "tax_rate_bp": 0,
                "tax_micros": 0,
                "total_micros": 0,
                "note": None,
                "issued_at": invoices.datetime.now(invoices.UTC),
                "dedupe": f"t:{t['id']}",
            }
        )
    mine = c.get("/v1/invoices", headers=_auth(keys["beta"])).json()["invoices"]
    assert [i["number"] for i in mine] == ["INV-T-beta"]
    r = c.get("/v1/invoices/INV-T-alpha", headers=_auth(keys["beta"]))
    assert r.status_code == 404
    # another tenant's number reads exactly like one that does not exist
    unknown = c.get("/v1/invoices/INV-T-nobod", headers=_auth(keys["beta"]))
    assert unknown.status_code == 404
    assert r.json()["error"].replace("alpha", "?") == unknown.json()["error"].replace("nobod", "?")


# tenant route -> check; ops and admin routes use no tenant key
ISOLATION = {
    ("POST", "/v1/scenarios/{scenario}/predict"): _predict,
    ("POST", "/v1/feedback"): _feedback,
    ("POST", "/v1/outcomes"): _outcomes,
    ("GET", "/v1/usage"): _usage,
    ("GET", "/v1/invoices"): _invoices,
    ("GET", "/v1/invoices/{number}"): _invoices,
}
NOT_TENANT = ("/v1/admin/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi", "/redoc")
# The web pages take a signed-in session, not an API key: staff pages check the role
# (tests/browser/test_pages.py), and the portal shows only the developer's own tenant (the
# same test puts another tenant's key beside it and checks it never appears).
PAGES = {"/", "/login", "/logout", "/ui/", "/portal/"}


def _tenant_routes(app) -> set[tuple[str, str]]:
    out = set()
    for route in all_routes(app.routes):
        path = getattr(route, "path", "")
        if any(path.startswith(p) for p in NOT_TENANT) or path in PAGES:
            continue
        for method in getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}:
            out.add((method, path))
    return out


def test_every_tenant_route_has_an_isolation_check(ws):
    routes = _tenant_routes(create_app(ws.settings, ws.store))
    assert routes == set(ISOLATION), (
        f"tenant routes without an isolation check: {routes - set(ISOLATION)}; add one here"
    )


def test_tenant_keys_cannot_use_any_admin_route(ws):
    """Admin routes act on every tenant: each one, enumerated, refuses a tenant's key (and
    the wrong token), and changes nothing."""
    import re

    from pydantic import SecretStr

    billing.create_plan(ws.store, "p", price_per_1k="1.00")
    billing.create_tenant(ws.store, "alpha", plan="p")
    key, _ = billing.create_key(ws.store, "alpha")
    settings = ws.settings.model_copy(
        update={
            "admin_token": SecretStr("admin-secret-for-the-tests-0123456789"),
            "auth_failures_per_minute": 1_000_000,  # every wrong token here is on purpose
        }
    )
    app = create_app(settings, ws.store)
    admin = sorted(
        (m, r.path)
        for r in all_routes(app.routes)
        if getattr(r, "path", "").startswith("/v1/admin/")
        for m in getattr(r, "methods", set()) - {"HEAD", "OPTIONS"}
    )
    assert len(admin) >= 15  # plans, tenants, keys, invoices, alerts, scenarios
    before = billing.usage_summary(ws.store)
    with TestClient(app) as c:
        for method, path in admin:
            url = re.sub(r"\{[^}]+\}", "alpha", path)
            for auth in (f"Bearer {key}", "Bearer admin-secreT", None):
                headers = {"Authorization": auth} if auth else {}
                r = c.request(method, url, json={}, headers=headers)
                assert r.status_code == 401, (method, path, auth and auth[:12], r.text)
    assert ws.store.billing.tenant("alpha")["status"] == "active"
    assert [p["name"] for p in ws.store.billing.plans()] == ["p"]
    assert billing.usage_summary(ws.store) == before


@pytest.mark.parametrize("route", sorted(ISOLATION), ids=lambda r: f"{r[0]} {r[1]}")
def test_tenant_cannot_reach_another_tenants_data(two_tenants, ws, route):
    c, keys = two_tenants
    ISOLATION[route](c, keys, ws)


def test_raw_keys_are_never_stored_logged_or_echoed(two_tenants, ws, caplog):
    c, keys = two_tenants
    test_key, _ = billing.create_key(ws.store, "alpha", test=True)
    with caplog.at_level(logging.DEBUG):
        for key in (*keys.values(), test_key):
            c.post(PREDICT, json={"inputs": ["好"]}, headers=_auth(key))
            c.get("/v1/usage", headers=_auth(key))
            wrong = key[:-1] + ("A" if key[-1] != "A" else "B")  # an almost-right key
            r = c.get("/v1/usage", headers=_auth(wrong))
            assert r.status_code == 401 and wrong not in r.text and key not in r.text
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    with ws.store.db.read() as conn:
        dumped = "\n".join(
            repr(tuple(row))
            for table in tables.metadata.sorted_tables
            for row in conn.execute(select(table))
        )
    for key in (*keys.values(), test_key):
        assert key not in logged and key not in dumped
        assert billing.hash_key(key) in dumped  # stored as its hash
