"""Metering: a group-committed batch meters each request exactly as if alone; cached API keys
are re-checked in the metering transaction, so revocation, suspension and plan changes act on
the next request; concurrent requests share commits (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from fastapi.testclient import TestClient
from tests.clock import THIS

from modelmint import billing
from modelmint.billing.metering import GroupCommit
from modelmint.billing.rules import RULES
from modelmint.serve import create_app
from modelmint.store import new_id
from modelmint.types import MeterItem, MeterOutcome

URL = "/v1/scenarios/reviews/predict"


def _req(tenant_id, units, *, quota=None, live=True, idem=None, levels=(), key_id="k", **kw):
    return MeterItem(
        request_id=new_id(),
        tenant_id=tenant_id,
        key_id=key_id,
        scenario="reviews",
        period=THIS,
        quota=quota,
        prediction_rows=tuple(
            dict(id=new_id(), model_version=1, input_text="x", label="p", score=1.0, latency_ms=1)
            for _ in range(units)
        ),
        live=live,
        idempotency=(idem, "hash", "{}") if idem else None,
        alert_levels=tuple(levels),
        **kw,
    )


def _fields(item):
    return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}


def test_a_batch_meters_each_request_as_if_alone(ws):
    billing.create_plan(ws.store, "p", price_per_1k="1")
    a = billing.create_tenant(ws.store, "a", plan="p")["id"]
    b = billing.create_tenant(ws.store, "b", plan="p")["id"]
    levels = [("quota", 80, 8, 10), ("quota", 100, 10, 10)]
    batch = [
        _req(a, 6, quota=10, levels=levels),
        _req(b, 3, quota=3),
        _req(a, 5, quota=10, levels=levels),  # 6 + 5 > 10: refused whole
        _req(a, 3, quota=10, levels=levels, idem="order-1"),  # 9: crosses 80%
        _req(a, 1, quota=10, levels=levels, idem="order-1"),  # the same key: conflict
        _req(a, 50, quota=10, live=False),  # test traffic: no quota
        _req(b, 1, quota=3),  # b is at its quota
        _req(a, 1, quota=10, levels=levels),  # 10: crosses 100%
    ]
    outcomes = ws.store.billing.record_requests(batch, RULES)
    ok, over, conflict = MeterOutcome.OK, MeterOutcome.OVER_QUOTA, MeterOutcome.CONFLICT
    assert outcomes == [ok, ok, over, ok, conflict, ok, over, ok]
    assert ws.store.billing.units_used(a, THIS) == 10
    assert ws.store.billing.units_used(b, THIS) == 3
    live = {r["tenant"]: r["units"] for r in ws.store.billing.usage_by_scenario(THIS)}
    assert live == {"a": 10, "b": 3}
    test = ws.store.billing.usage_by_scenario(THIS, live=False)
    assert [(r["tenant"], r["units"]) for r in test] == [("a", 50)]
    alerts = sorted((x["threshold"], x["used_units"]) for x in ws.store.alerts.list(a))
    assert alerts == [(80, 9), (100, 10)]
    # a refused or conflicting request wrote nothing: 4 live requests metered, 4 usage rows
    assert sum(r["requests"] for r in ws.store.billing.usage_by_scenario(THIS)) == 4


def test_group_commit_shares_commits_and_keeps_order(ws):
    billing.create_plan(ws.store, "p", price_per_1k="1")
    tid = billing.create_tenant(ws.store, "a", plan="p")["id"]
    gc = GroupCommit(ws.store)
    try:
        futures = []
        barrier = threading.Barrier(8)

        def client() -> None:
            barrier.wait()
            for _ in range(25):
                futures.append(gc.submit(_req(tid, 1, quota=150)))

        threads = [threading.Thread(target=client) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        outcomes = [f.result(timeout=60) for f in futures]
    finally:
        gc.close()
    assert outcomes.count("ok") == 150 and outcomes.count("over_quota") == 50
    assert ws.store.billing.units_used(tid, THIS) == 150
    assert gc.requests == 200 and gc.batches < 200  # commits were shared


def test_the_writer_takes_a_dict_of_meter_item_fields_for_now(ws):
    """The server's predict path still hands the writer a dict; it is converted to MeterItem."""
    billing.create_plan(ws.store, "p", price_per_1k="1")
    tid = billing.create_tenant(ws.store, "a", plan="p")["id"]
    as_dict = _fields(_req(tid, 2, quota=3))
    as_dict["prediction_rows"] = list(as_dict["prediction_rows"])
    gc = GroupCommit(ws.store)
    try:
        assert gc.submit(as_dict).result(timeout=60) == MeterOutcome.OK
        assert gc.submit(_req(tid, 2, quota=3)).result(timeout=60) == MeterOutcome.OVER_QUOTA
        with pytest.raises(TypeError):
            gc.submit({**as_dict, "no_such_field": 1})
    finally:
        gc.close()
    assert ws.store.billing.units_used(tid, THIS) == 2


@pytest.fixture
def client(ws, tiny_trained):
    billing.create_plan(ws.store, "tiny", price_per_1k="1", quota=2)
    billing.create_plan(ws.store, "big", price_per_1k="1", quota=100)
    billing.create_tenant(ws.store, "acme", plan="tiny")
    settings = ws.settings.model_copy(update={"key_cache_seconds": 3600.0})
    with TestClient(create_app(settings, ws.store)) as c:
        yield c


def test_cached_keys_are_rechecked_when_metered(ws, client):
    key, rec = billing.create_key(ws.store, "acme")
    h = {"Authorization": f"Bearer {key}"}
    assert client.post(URL, json={"inputs": ["好", "差"]}, headers=h).status_code == 200
    over = client.post(URL, json={"inputs": ["好"]}, headers=h)
    assert over.status_code == 429
    # a plan change acts on the next request although the caller is cached for an hour
    billing.change_plan(ws.store, "acme", "big")
    assert client.post(URL, json={"inputs": ["好"]}, headers=h).status_code == 200
    billing.set_tenant_status(ws.store, "acme", "suspended")
    r = client.post(URL, json={"inputs": ["好"]}, headers=h)
    assert r.status_code == 403 and "suspended" in r.json()["error"]
    billing.set_tenant_status(ws.store, "acme", "active")
    assert client.post(URL, json={"inputs": ["好"]}, headers=h).status_code == 200
    ws.store.billing.revoke_key(rec["id"])
    r = client.post(URL, json={"inputs": ["好"]}, headers=h)
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    usage = billing.usage_summary(ws.store, tenant="acme")[0]
    assert usage["total_units"] == 4 and usage["requests"] == 3  # refused calls: not metered
