"""People and roles (issue 15): users from the CLI, personal access tokens for the admin API,
and every admin route walked with every role: allowed means not 401/403, refused means 403
naming the roles that may; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.routes import all_routes

from modelmint import billing, people
from modelmint.errors import Forbidden, InvalidInput, Unauthorized
from modelmint.serve import create_app

TOKEN = "admin-token-for-the-people-tests-0123456789"
PASSWORD = "correct horse battery"


@pytest.fixture
def app(ws):
    settings = ws.settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    return create_app(settings, ws.store)


def _area_of(route: APIRoute) -> tuple[str, bool] | None:
    for dep in route.dependant.dependencies:
        area = getattr(dep.call, "area", None)
        if area is not None:
            return area, dep.call.read_only
    return None


def test_every_admin_route_checks_every_role(ws, app):
    billing.create_plan(ws.store, "p", price_per_1k="1")
    billing.create_tenant(ws.store, "acme", plan="p")
    tokens = {}
    for role in people.STAFF_ROLES:
        people.create_user(ws.store, f"u-{role}", role=role, password=PASSWORD)
        tokens[role], _ = people.create_token(ws.store, f"u-{role}")
    people.create_user(ws.store, "dev", role="developer", tenant="acme", password=PASSWORD)
    dev_token, _ = people.create_token(ws.store, "dev")
    routes = [
        r
        for r in all_routes(app.routes)
        if isinstance(r, APIRoute) and r.path.startswith("/v1/admin")
    ]
    assert len(routes) >= 40
    checked = 0
    with TestClient(app) as client:
        for route in routes:
            found = _area_of(route)
            assert found is not None, f"{route.path} has no area: every admin route needs one"
            area, read_only = found
            path = route.path.replace("{", "").replace("}", "")  # /users/name -> a name
            for method in route.methods:
                write = method not in ("GET", "HEAD") and not read_only
                for role, token in tokens.items():
                    r = client.request(
                        method, path, json={}, headers={"Authorization": f"Bearer {token}"}
                    )
                    assert r.status_code < 500, (role, method, path, r.text)
                    if people.allowed(role, area, write):
                        assert r.status_code not in (401, 403), (role, method, path, r.text)
                    else:
                        assert r.status_code == 403, (role, method, path, r.status_code)
                        assert f"the {role} role may not" in r.json()["error"]
                    checked += 1
                r = client.request(
                    method, path, json={}, headers={"Authorization": f"Bearer {dev_token}"}
                )
                assert r.status_code == 403 and "portal" in r.json()["error"]
    assert checked >= 4 * 40


def test_tokens_act_as_their_user_and_stop_when_revoked_disabled_or_expired(ws, app):
    people.create_user(ws.store, "ops", role="operator", password=PASSWORD)
    token, rec = people.create_token(ws.store, "ops", name="ci")
    short, _ = people.create_token(ws.store, "ops", lifetime=timedelta(minutes=1))
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as c:
        assert c.get("/v1/admin/monitor/alerts", headers=auth).status_code == 200
        r = c.get("/v1/admin/tenants", headers=auth)
        assert r.status_code == 403 and "billing" in r.json()["error"]
        # what a token does is audited under its user
        people.set_disabled(ws.store, "ops", True)
        r = c.get("/v1/admin/monitor/alerts", headers=auth)
        assert r.status_code == 401 and "disabled" in r.json()["error"]
        people.set_disabled(ws.store, "ops", False)
        assert c.get("/v1/admin/monitor/alerts", headers=auth).status_code == 200
        people.revoke_token(ws.store, rec["id"])
        assert c.get("/v1/admin/monitor/alerts", headers=auth).status_code == 401
        later = datetime.now(UTC) + timedelta(minutes=2)
        assert people.authenticate_token(ws.store, short, now=later) is None
        assert (
            c.get(
                "/v1/admin/monitor/alerts", headers={"Authorization": "Bearer mmu_nope"}
            ).status_code
            == 401
        )
    actions = [e["action"] for e in reversed(ws.store.audit.entries(limit=20)[0])]
    assert actions[:5] == [
        "user.create",
        "token.create",
        "token.create",
        "user.disable",
        "user.enable",
    ]
    assert "token.revoke" in actions


def test_a_users_token_is_named_in_the_audit_log(ws, app):
    people.create_user(ws.store, "bill", role="billing", password=PASSWORD)
    token, _ = people.create_token(ws.store, "bill")
    with TestClient(app) as c:
        r = c.post(
            "/v1/admin/plans",
            json={"name": "pro", "price_per_1k": "2.00"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
    entry = ws.store.audit.entries(action="plan.create")[0][0]
    assert entry["actor"] == "user:bill" and entry["request_id"] == r.headers["x-request-id"]


def test_passwords_lockout_and_the_last_admin(ws):
    people.create_user(ws.store, "root", role="admin", password=PASSWORD)
    stored = ws.store.people.user("root")["password_hash"]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert people.verify_login(ws.store, "root", PASSWORD)["name"] == "root"
    for bad in ("nobody", "root"):
        with pytest.raises(Unauthorized, match="wrong user name or password"):
            people.verify_login(ws.store, bad, "wrong password!!")
    for _ in range(4):
        with pytest.raises(Unauthorized):
            people.verify_login(ws.store, "root", "wrong password!!")
    with pytest.raises(Forbidden, match="locked"):
        people.verify_login(ws.store, "root", PASSWORD)  # even the right one, while locked
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert people.verify_login(ws.store, "root", PASSWORD, now=later)
    with pytest.raises(InvalidInput, match="last enabled admin"):
        people.set_disabled(ws.store, "root", True)
    with pytest.raises(InvalidInput, match="last enabled admin"):
        people.set_role(ws.store, "root", "viewer")
    with pytest.raises(InvalidInput, match="12 to 1024"):
        people.create_user(ws.store, "short", role="viewer", password="short")
    with pytest.raises(InvalidInput, match="belongs to a tenant"):
        people.create_user(ws.store, "dev", role="developer", password=PASSWORD)
    assert [u["name"] for u in people.list_users(ws.store)] == ["root"]  # nothing half-made
    log = json.dumps(ws.store.audit.entries(limit=50)[0])
    assert "$argon2" not in log and PASSWORD not in log
    assert "user.locked" in log


def test_users_cli(ws, mm):
    mm("users", "create", "alice", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    mm("users", "create", "bob", "--role", "viewer", "--no-password")
    out = json.loads(mm("users", "list", "--json").out)
    assert [(u["name"], u["role"], u["has_password"]) for u in out] == [
        ("alice", "admin", True),
        ("bob", "viewer", False),
    ]
    token = mm("users", "token", "create", "bob", "--name", "ci", "--expires-in", "90d").out
    assert token.strip().splitlines()[-1].startswith("mmu_")
    listed = json.loads(mm("users", "token", "list", "bob", "--json").out)
    assert listed[0]["name"] == "ci" and "token_hash" not in listed[0]
    mm("users", "set-role", "bob", "operator")
    mm("users", "disable", "bob")
    mm("users", "enable", "bob")
    mm("users", "reset-password", "bob", "--password-stdin", stdin="another long password\n")
    assert people.verify_login(ws.store, "bob", "another long password")
    mm("users", "token", "revoke", listed[0]["id"])
    err = mm(
        "users", "create", "carol", "--role", "viewer", "--password-stdin", stdin="", code=2
    ).err
    assert "stdin is empty" in err
    assert "not one of" in mm("users", "create", "x", "--role", "god", "--no-password", code=2).err
    assert (
        "already exists"
        in mm("users", "create", "bob", "--role", "viewer", "--no-password", code=5).err
    )
