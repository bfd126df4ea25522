"""API keys: live and test modes, scenario and read/write scopes, expiry, rotation with an
overlap; over real HTTP (in-process) on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from modelmint import billing
from modelmint.cli import app as cli_app
from modelmint.errors import InvalidInput
from modelmint.serve import create_app

URL = "/v1/scenarios/reviews/predict"


@pytest.fixture
def client(ws, tiny_trained):
    billing.create_plan(ws.store, "tiny", price_per_1k="2.00", quota=2)
    billing.create_tenant(ws.store, "acme", plan="tiny")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        yield c


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_test_keys_are_metered_apart_and_never_bill(ws, client):
    live, _ = billing.create_key(ws.store, "acme")
    test, rec = billing.create_key(ws.store, "acme", test=True)
    assert test.startswith("mm_test_") and live.startswith("mm_live_") and rec["mode"] == "test"
    for _ in range(3):  # past the live quota of 2 units: test traffic has none
        r = client.post(URL, json={"inputs": ["质量很好"]}, headers=_auth(test))
        assert r.status_code == 200, r.text
    assert client.post(URL, json={"inputs": ["好", "差"]}, headers=_auth(live)).status_code == 200
    usage = client.get("/v1/usage", headers=_auth(test)).json()
    assert usage["total_units"] == 2 and usage["amount_due"] == "0.004"  # live only
    assert usage["test_units"] == 3
    over = client.post(URL, json={"inputs": ["好"]}, headers=_auth(live))
    assert over.status_code == 429  # the live quota counts live units only


def test_scopes_limit_scenarios_and_writes(ws, client):
    scoped, _ = billing.create_key(ws.store, "acme", scenarios=["other"])
    r = client.post(URL, json={"inputs": ["好"]}, headers=_auth(scoped))
    assert r.status_code == 403 and "limited to the scenarios other" in r.json()["error"]
    reader, _ = billing.create_key(ws.store, "acme", read_only=True)
    r = client.post(URL, json={"inputs": ["好"]}, headers=_auth(reader))
    assert r.status_code == 403 and "read-only" in r.json()["error"]
    assert client.get("/v1/usage", headers=_auth(reader)).status_code == 200
    writer, _ = billing.create_key(ws.store, "acme", scenarios=["reviews"])
    pid = client.post(URL, json={"inputs": ["好"]}, headers=_auth(writer)).json()["predictions"][0][
        "id"
    ]
    for path, body in (
        ("/v1/feedback", {"prediction_id": pid, "label": "pos"}),
        ("/v1/outcomes", {"prediction_id": pid, "event": "converted"}),
    ):
        assert client.post(path, json=body, headers=_auth(scoped)).status_code == 403
        assert client.post(path, json=body, headers=_auth(reader)).status_code == 403
        assert client.post(path, json=body, headers=_auth(writer)).status_code == 201
    # nothing refused was billed: one unit, from the writer's prediction
    assert billing.usage_summary(ws.store, tenant="acme")[0]["total_units"] == 1


def test_expiry_and_rotation_with_overlap(ws, client, clock):
    expired, _ = billing.create_key(ws.store, "acme", expires_in="1m")  # the shortest lifetime
    clock.shift(60)
    r = client.post(URL, json={"inputs": ["好"]}, headers=_auth(expired))
    assert r.status_code == 401 and "expired" in r.json()["error"]
    old, rec = billing.create_key(ws.store, "acme", name="app", scenarios=["reviews"])
    new, new_rec = billing.rotate_key(ws.store, rec["id"], overlap="1h")
    assert new != old and new_rec["scenarios"] == ["reviews"] and new_rec["name"] == "app"
    for key in (old, new):  # both work during the overlap
        assert client.get("/v1/usage", headers=_auth(key)).status_code == 200
    newer, _ = billing.rotate_key(ws.store, new_rec["id"], overlap="0s")
    assert client.get("/v1/usage", headers=_auth(new)).status_code == 401
    assert client.get("/v1/usage", headers=_auth(newer)).status_code == 200
    assert client.get("/v1/usage", headers=_auth(old)).status_code == 200  # its hour still runs
    with pytest.raises(InvalidInput, match="has expired"):
        billing.rotate_key(ws.store, new_rec["id"])
    with pytest.raises(InvalidInput, match="not a duration"):
        billing.create_key(ws.store, "acme", expires_in="soon")


def test_keys_cli_create_rotate_list(ws, tiny_trained):
    billing.create_plan(ws.store, "p", price_per_1k="1.00")
    billing.create_tenant(ws.store, "acme", plan="p")
    env = {
        "MODELMINT_HOME": str(ws.settings.home),
        "MODELMINT_DATABASE_URL": ws.settings.sqlalchemy_url,
    }
    run = CliRunner().invoke
    r = run(
        cli_app,
        ["keys", "create", "--tenant", "acme", "--test", "--scenario", "reviews", "--json"],
        env=env,
    )
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    assert made["key"].startswith("mm_test_") and made["scenarios"] == ["reviews"]
    r = run(cli_app, ["keys", "rotate", made["id"], "--overlap", "0s", "--json"], env=env)
    assert r.exit_code == 0, r.output
    rotated = json.loads(r.output)
    assert rotated["key"].startswith("mm_test_") and rotated["id"] != made["id"]
    r = run(cli_app, ["keys", "list", "--tenant", "acme", "--json"], env=env)
    rows = {k["id"]: k for k in json.loads(r.output)}
    assert rows[made["id"]]["expires_at"] is not None and rows[rotated["id"]]["mode"] == "test"
    for raw in (made["key"], rotated["key"]):  # the raw keys are nowhere in the listing
        assert raw not in r.output
