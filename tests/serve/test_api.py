"""The HTTP API in-process (httpx via Starlette's TestClient) on a real database and model."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import time_machine
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.clock import NOW

from modelmint import billing, registry
from modelmint.pipeline import train_and_register
from modelmint.serve import create_app

URL = "/v1/scenarios/reviews/predict"


@pytest.fixture
def api(ws, tiny_trained):
    billing.create_plan(ws.store, "starter", price_per_1k="2.00", quota=1000)
    billing.create_tenant(ws.store, "acme", plan="starter")
    key, rec = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        client.key_id = rec["id"]  # type: ignore[attr-defined]
        yield client


def _shape(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"ok", "error", "errors", "status", "request_id"}
    assert body["ok"] is False and body["status"] == status and body["request_id"]
    assert r.headers["x-request-id"] == body["request_id"]
    return body


@time_machine.travel(NOW, tick=True)  # by_day and the period never straddle a midnight
def test_predict_feedback_outcome_usage(api, ws):
    r = api.post(URL, json={"inputs": ["质量很好，很满意", "太差了，要退货"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "reviews:1"
    preds = body["predictions"]
    assert [p["label"] for p in preds] == ["pos", "neg"]
    assert all(set(p) == {"id", "label", "score", "scores"} for p in preds)
    assert abs(sum(preds[0]["scores"].values()) - 1) < 1e-5
    r = api.post("/v1/feedback", json={"prediction_id": preds[0]["id"], "label": "pos"})
    assert r.status_code == 201 and r.json()["ok"]
    r = api.post(
        "/v1/outcomes", json={"prediction_id": preds[1]["id"], "event": "converted", "value": 12.5}
    )
    assert r.status_code == 201
    u = api.get("/v1/usage").json()
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert u["by_day"] == [
        {"day": today, "scenario": "reviews", "unit_type": "predict", "units": 2, "requests": 1}
    ]
    assert (
        u["total_units"] == 2
        and u["amount_due"] == "0.004"
        and u["period"] == billing.current_period()
    )
    assert ws.store.feedback.counts("reviews") == {"predictions": 2, "feedback": 1, "outcomes": 1}


def test_prediction_log_is_redacted(api, ws):
    r = api.post(URL, json={"inputs": ["很满意，客服电话13812345678，邮箱kf@shop.cn"]})
    pid = r.json()["predictions"][0]["id"]
    logged = ws.store.feedback.prediction(pid, ws.store.billing.tenant("acme")["id"])
    assert logged["input_text"] == "很满意，客服电话[PHONE]，邮箱[EMAIL]"


def test_errors_share_one_shape(api, ws):
    _shape(api.post(URL, json={"inputs": ["x"]}, headers={"Authorization": ""}), 401)
    _shape(
        api.post(URL, json={"inputs": ["x"]}, headers={"Authorization": "Bearer mm_live_bad"}), 401
    )
    assert (
        "unknown scenario"
        in _shape(api.post("/v1/scenarios/nope/predict", json={"inputs": ["x"]}), 404)["error"]
    )
    _shape(api.post(URL, content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    _shape(api.post(URL, content=b"\xff\xfe", headers={"Content-Type": "application/json"}), 400)
    _shape(api.post(URL, json={"inputs": []}), 422)
    _shape(api.post(URL, json={"inputs": "not a list"}), 422)
    _shape(api.post(URL, json={"inputs": [1, 2]}), 422)
    _shape(api.post(URL, json={"text": ["x"]}), 422)
    assert "empty" in _shape(api.post(URL, json={"inputs": ["  "]}), 400)["error"]
    raw = b'{"inputs": ["ok", "bad \\ud800 surrogate"]}'
    _shape(api.post(URL, content=raw, headers={"Content-Type": "application/json"}), 400)
    _shape(api.post(URL, json={"inputs": ["nul \u0000 byte"]}), 400)
    assert api.post(URL, json={"inputs": ["tab\tand\nnewline\r\nfine"]}).status_code == 200
    for ch in ("\u001b", "\u0007", "\u007f"):  # ESC, BEL, DEL: 400 naming the character
        err = _shape(api.post(URL, json={"inputs": [f"colour {ch}[31m"]}), 400)["error"]
        assert f"U+{ord(ch):04X}" in err
    _shape(api.post(URL, json={"inputs": ["x"] * 257}), 413)
    _shape(api.post(URL, json={"inputs": ["x" * 20_001]}), 413)
    _shape(
        api.post(URL, content=b"x" * 3_000_000, headers={"Content-Type": "application/json"}), 413
    )
    chunks = (b"x" * 100_000 for _ in range(30))  # streamed, no Content-Length: counted as it comes
    _shape(api.post(URL, content=chunks, headers={"Content-Type": "application/json"}), 413)
    _shape(api.post("/v1/feedback", json={"prediction_id": "01NOPE", "label": "pos"}), 404)
    _shape(api.post("/v1/outcomes", json={"prediction_id": "01NOPE", "event": "converted"}), 404)
    _shape(api.get("/v1/nowhere"), 404)
    # odd identifiers are plain 404s/400s on every database (PostgreSQL refuses NUL in text)
    _shape(api.post("/v1/scenarios/%00bad/predict", json={"inputs": ["x"]}), 404)
    _shape(api.post("/v1/feedback", json={"prediction_id": "a\u0000b", "label": "pos"}), 404)
    pid = api.post(URL, json={"inputs": ["很好"]}).json()["predictions"][0]["id"]
    _shape(api.post("/v1/outcomes", json={"prediction_id": pid, "event": "x\u0000"}), 400)
    _shape(api.get("/v1/usage?period=2026-13"), 400)
    # nothing was billed for any of the refused calls
    assert api.get("/v1/usage").json()["total_units"] == 2


def test_feedback_label_must_be_known(api):
    pid = api.post(URL, json={"inputs": ["很好"]}).json()["predictions"][0]["id"]
    body = _shape(api.post("/v1/feedback", json={"prediction_id": pid, "label": "meh"}), 400)
    assert "neg, pos" in body["error"]


def test_tenants_see_only_their_own_predictions(api, ws):
    pid = api.post(URL, json={"inputs": ["很好"]}).json()["predictions"][0]["id"]
    billing.create_tenant(ws.store, "other", plan="starter")
    other_key, _ = billing.create_key(ws.store, "other")
    h = {"Authorization": f"Bearer {other_key}"}
    _shape(api.post("/v1/feedback", json={"prediction_id": pid, "label": "pos"}, headers=h), 404)
    assert api.get("/v1/usage", headers=h).json()["total_units"] == 0


def test_revoked_key_stops_at_once(api, ws):
    assert api.post(URL, json={"inputs": ["很好"]}).status_code == 200
    ws.store.billing.revoke_key(api.key_id)
    assert "revoked" in _shape(api.post(URL, json={"inputs": ["很好"]}), 401)["error"]


def test_quota_429_with_retry_after(ws, tiny_trained):
    billing.create_plan(ws.store, "free", price_per_1k="0", quota=3)
    billing.create_tenant(ws.store, "small", plan="free")
    key, _ = billing.create_key(ws.store, "small")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        assert c.post(URL, json={"inputs": ["好", "差"]}).status_code == 200
        r = c.post(URL, json={"inputs": ["好", "差"]})
        body = _shape(r, 429)
        assert int(r.headers["Retry-After"]) > 0 and body["errors"][0]["limit"] == "quota"
        assert c.post(URL, json={"inputs": ["好"]}).status_code == 200
        assert c.get("/v1/usage").json()["total_units"] == 3


def test_rate_limit_429(ws, tiny_trained):
    billing.create_plan(ws.store, "slow", price_per_1k="1", rate_limit=0.5, burst=2)
    billing.create_tenant(ws.store, "burst", plan="slow")
    key, _ = billing.create_key(ws.store, "burst")
    # the limiter's clock is pinned: the three calls happen at one instant however slow the
    # machine, and the refill is a move of the clock, not a wait
    with (
        time_machine.travel(NOW, tick=False) as clock,
        TestClient(create_app(ws.settings, ws.store)) as c,
    ):
        c.headers["Authorization"] = f"Bearer {key}"
        codes = [c.post(URL, json={"inputs": ["好"]}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        clock.shift(2.0)  # 0.5 req/s: one token back after 2 s
        codes = [c.post(URL, json={"inputs": ["好"]}).status_code for _ in range(2)]
        assert codes == [200, 429]


def _served_within(api, ref: str, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = api.post(URL, json={"inputs": ["好"]})
        assert r.status_code == 200, r.text  # never a failure while it switches
        if r.json()["model"] == ref:
            return True
        time.sleep(0.1)
    return False


def test_promotion_swaps_the_serving_version_without_restart(api, ws):
    """A promotion made by another process (the CLI) reaches the server within
    alias_refresh_seconds, after the new version is warm."""
    assert api.post(URL, json={"inputs": ["好"]}).json()["model"] == "reviews:1"
    train_and_register(ws, "reviews")
    registry.promote(ws.store, "reviews:2")
    assert _served_within(api, "reviews:2")
    registry.rollback(ws.store, "reviews")
    assert _served_within(api, "reviews:1")


def test_health_ready_and_openapi(api):
    assert api.get("/healthz").json() == {"ok": True}
    ready = api.get("/readyz").json()
    assert ready["database"] and "reviews:1" in ready["loaded"]
    paths = set(api.get("/openapi.json").json()["paths"])
    assert {
        "/v1/scenarios/{scenario}/predict",
        "/v1/feedback",
        "/v1/outcomes",
        "/v1/usage",
    } <= paths
    assert api.get("/docs").status_code == 200


def test_admin_retrain_queues_a_job(ws, tiny_trained):
    ws.settings.admin_token = SecretStr("s3cret-" + "x" * 32)
    with TestClient(create_app(ws.settings, ws.store)) as c:
        _shape(c.post("/v1/admin/retrain", json={"scenario": "reviews"}), 401)
        h = {"Authorization": "Bearer s3cret-" + "x" * 32}
        _shape(c.post("/v1/admin/retrain", json={"scenario": "nope"}, headers=h), 404)
        # nothing new to learn from: refused at the door, nothing queued
        r = c.post("/v1/admin/retrain", json={"scenario": "reviews"}, headers=h)
        assert "no new labelled feedback" in _shape(r, 400)["error"]
        assert ws.store.jobs.list() == []
        # promoting the version already in production is refused, not a 1 -> 1 audit row
        r = c.post("/v1/admin/scenarios/reviews/promote", json={"version": 1}, headers=h)
        assert "already in production" in _shape(r, 409)["error"]
        billing.create_plan(ws.store, "p", price_per_1k="1")
        billing.create_tenant(ws.store, "acme", plan="p")
        key, _ = billing.create_key(ws.store, "acme")
        tenant = {"Authorization": f"Bearer {key}"}
        pred = c.post(URL, json={"inputs": ["包装破损，客服也不理人"]}, headers=tenant).json()
        fb = {"prediction_id": pred["predictions"][0]["id"], "label": "neg"}
        assert c.post("/v1/feedback", json=fb, headers=tenant).status_code == 201
        r = c.post("/v1/admin/retrain", json={"scenario": "reviews"}, headers=h)
        assert r.status_code == 202
        job = c.get(f"/v1/admin/jobs/{r.json()['job']}", headers=h).json()
        assert job["status"] == "queued" and job["params"]["scenario"] == "reviews"
