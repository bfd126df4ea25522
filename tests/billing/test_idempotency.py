"""Idempotency-Key on predict: a retry replays the first response and is metered once; the same
key with another request is 409; racing duplicates meter once (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from modelmint import billing
from modelmint.serve import create_app

URL = "/v1/scenarios/reviews/predict"


@pytest.fixture
def client(ws, tiny_trained):
    billing.create_plan(ws.store, "p", price_per_1k="1.00", quota=5)
    billing.create_tenant(ws.store, "acme", plan="p")
    key, _ = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c


def _units(ws) -> int:
    return billing.usage_summary(ws.store, tenant="acme")[0]["total_units"]


def test_a_retry_replays_the_first_response_and_is_metered_once(ws, client):
    h = {"Idempotency-Key": "order-42"}
    first = client.post(URL, json={"inputs": ["质量很好", "太差了"]}, headers=h)
    again = client.post(URL, json={"inputs": ["质量很好", "太差了"]}, headers=h)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _units(ws) == 2 and ws.store.feedback.counts("reviews")["predictions"] == 2
    # the same key for another request is a client bug: 409, nothing metered
    other = client.post(URL, json={"inputs": ["别的"]}, headers=h)
    assert other.status_code == 409 and "different request" in other.json()["error"]
    assert (
        client.post(URL, json={"inputs": ["x"]}, headers={"Idempotency-Key": "x" * 201}).status_code
        == 400
    )
    assert _units(ws) == 2
    # without the header every call counts
    client.post(URL, json={"inputs": ["好"]})
    client.post(URL, json={"inputs": ["好"]})
    assert _units(ws) == 4


def test_racing_duplicates_are_metered_once(ws, client):
    results = []
    barrier = threading.Barrier(6)

    def call() -> None:
        barrier.wait()
        results.append(client.post(URL, json={"inputs": ["好"]}, headers={"Idempotency-Key": "k"}))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in results] == [200] * 6
    assert len({r.json()["predictions"][0]["id"] for r in results}) == 1
    assert _units(ws) == 1


def test_a_refused_call_stores_nothing_under_its_key(ws, client):
    h = {"Idempotency-Key": "big"}
    r = client.post(URL, json={"inputs": ["好"] * 6}, headers=h)  # over the quota of 5
    assert r.status_code == 429
    assert (
        ws.store.billing.idempotent_response(ws.store.billing.tenant("acme")["id"], "big") is None
    )
    ok = client.post(URL, json={"inputs": ["好"] * 5}, headers={"Idempotency-Key": "fits"})
    assert ok.status_code == 200 and _units(ws) == 5
