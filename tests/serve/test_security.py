"""Security defects from the outside review (issue 12 §1), each pinned by a test: a weak admin
token, unthrottled failed authentication, /metrics open to anyone, scenario lists leaked in a
404, and missing security headers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from modelmint import billing
from modelmint.errors import ConfigError
from modelmint.pipeline import train_and_register
from modelmint.serve import create_app
from modelmint.settings import load_settings

URL = "/v1/scenarios/reviews/predict"
GOOD_ADMIN = "a" * 32


@pytest.mark.parametrize("token", ["", "   ", "s3cret", "x" * 31])
def test_an_empty_or_short_admin_token_stops_the_server_at_start_up(ws, token):
    settings = ws.settings.model_copy(update={"admin_token": SecretStr(token)})
    with pytest.raises(ConfigError, match=r"at least 32 characters.*secrets\.token_urlsafe"):
        create_app(settings, ws.store)


def test_an_empty_admin_token_from_the_environment_is_refused(ws, monkeypatch):
    monkeypatch.setenv("MODELMINT_ADMIN_TOKEN", "")
    settings = load_settings(home=ws.settings.home, database_url=ws.settings.database_url)
    with pytest.raises(ConfigError, match="is empty"):
        create_app(settings, ws.store)
    # and an empty Bearer never reaches the admin API of a server with a real token
    settings = settings.model_copy(update={"admin_token": SecretStr(GOOD_ADMIN)})
    with TestClient(create_app(settings, ws.store)) as c:
        assert c.get("/v1/admin/tenants", headers={"Authorization": "Bearer "}).status_code == 401
        ok = c.get("/v1/admin/tenants", headers={"Authorization": f"Bearer {GOOD_ADMIN}"})
        assert ok.status_code == 200


def test_failed_authentication_is_throttled_per_address_and_per_key(ws):
    billing.create_plan(ws.store, "p", price_per_1k="1")
    billing.create_tenant(ws.store, "acme", plan="p")
    good, _ = billing.create_key(ws.store, "acme")
    settings = ws.settings.model_copy(
        update={"auth_failures_per_minute": 5, "admin_token": SecretStr(GOOD_ADMIN)}
    )
    app = create_app(settings, ws.store)
    now = [1000.0]
    app.state.auth_failures.clock = lambda: now[0]
    attacker = TestClient(app, client=("203.0.113.7", 4000))
    elsewhere = TestClient(app, client=("198.51.100.9", 4000))
    wrong = [f"mm_live_{i:06d}guess" for i in range(6)]
    codes = [
        attacker.get("/v1/usage", headers={"Authorization": f"Bearer {k}"}).status_code
        for k in wrong[:5]
    ]
    assert codes == [401] * 5
    r = attacker.get("/v1/usage", headers={"Authorization": f"Bearer {wrong[5]}"})
    assert r.status_code == 429 and r.json()["errors"][0]["limit"] == "auth_failures"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # the address is refused whatever it sends now, the admin token included
    assert attacker.get("/v1/usage", headers={"Authorization": f"Bearer {good}"}).status_code == 429
    admin = {"Authorization": f"Bearer {GOOD_ADMIN}"}
    assert attacker.get("/v1/admin/tenants", headers=admin).status_code == 429
    # another address with a valid key is served
    assert (
        elsewhere.get("/v1/usage", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    )
    # guesses at one key prefix from many addresses are counted together
    for i in range(5):
        spread = TestClient(app, client=(f"192.0.2.{i + 1}", 4000))
        assert (
            spread.get("/v1/usage", headers={"Authorization": "Bearer mm_live_abcdefX"}).status_code
            == 401
        )
    r = elsewhere.get("/v1/usage", headers={"Authorization": "Bearer mm_live_abcdefY"})
    assert r.status_code == 429
    # the window slides: a minute later the attacker may try again
    now[0] += 61
    assert attacker.get("/v1/usage", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_metrics_open_on_loopback_and_behind_a_token_elsewhere(ws):
    settings = ws.settings.model_copy(update={"metrics_token": SecretStr("m" * 40)})
    app = create_app(settings, ws.store)
    local = TestClient(app, client=("127.0.0.1", 5000))
    remote = TestClient(app, client=("203.0.113.7", 5000))
    assert local.get("/metrics").status_code == 200
    assert remote.get("/metrics").status_code == 401
    assert remote.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = remote.get("/metrics", headers={"Authorization": f"Bearer {'m' * 40}"})
    assert ok.status_code == 200 and "modelmint" in ok.text
    closed = TestClient(create_app(ws.settings, ws.store), client=("203.0.113.7", 5000))
    r = closed.get("/metrics")
    assert r.status_code == 403 and "MODELMINT_METRICS_TOKEN" in r.json()["error"]


def test_every_response_carries_security_headers(ws):
    c = TestClient(create_app(ws.settings, ws.store))
    for r in (c.get("/healthz"), c.get("/nope"), c.get("/v1/usage"), c.get("/docs")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert c.get("/v1/usage").headers["cache-control"] == "no-store"
    assert "script-src 'self'" in c.get("/docs").headers["content-security-policy"]


def test_an_unknown_scenario_lists_only_what_the_key_may_call(ws, tiny_trained, reviews_csv):
    from modelmint import data, registry

    data.add_dataset(ws.store, ws.settings.datasets_dir, "secret", reviews_csv)
    registry.promote(ws.store, train_and_register(ws, "secret").model.ref)
    billing.create_plan(ws.store, "p", price_per_1k="1")
    billing.create_tenant(ws.store, "acme", plan="p")
    scoped, _ = billing.create_key(ws.store, "acme", scenarios=["reviews", "ghost"])
    anyone, _ = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        r = c.post(
            "/v1/scenarios/ghost/predict",
            json={"inputs": ["好"]},
            headers={"Authorization": f"Bearer {scoped}"},
        )
        assert r.status_code == 404
        assert "reviews" in r.json()["error"] and "secret" not in r.json()["error"]
        r = c.post(
            "/v1/scenarios/ghost/predict",
            json={"inputs": ["好"]},
            headers={"Authorization": f"Bearer {anyone}"},
        )
        assert r.status_code == 404 and "secret" in r.json()["error"]  # this key may call it


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("很好\u0085", "U+0085"),  # C1 next line
        ("bad\u009b31m", "U+009B"),  # C1 control sequence introducer
        ("\u200b\u200b\u200b", "no visible characters"),
        ("\ufeff \u2060\u200d", "no visible characters"),
        ("\u3164\u3164", "no visible characters"),  # Hangul filler
    ],
)
def test_control_and_invisible_inputs_are_refused_and_not_billed(api_key_client, text, message):
    c, _ws = api_key_client
    r = c.post(URL, json={"inputs": ["好", text]})
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert c.get("/v1/usage").json()["total_units"] == 0


@pytest.fixture
def api_key_client(ws, tiny_trained):
    billing.create_plan(ws.store, "p", price_per_1k="1")
    billing.create_tenant(ws.store, "acme", plan="p")
    key, _ = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c, ws
