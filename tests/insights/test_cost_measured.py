"""The cost to serve is measured: the batching runtime times every batch and gives each request
its share by inputs, the server logs it with each prediction, and insights price it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from modelmint import billing, insights
from modelmint.serve import create_app
from modelmint.serve.batcher import MicroBatcher


def test_batch_time_is_shared_by_inputs():
    now = [100.0]

    def clock() -> float:
        return now[0]

    def runner(items: list[str]) -> list[str]:
        now[0] += 0.1 * len(items)  # this batch "takes" 0.1 s an input
        return [x.upper() for x in items]

    async def go():
        with ThreadPoolExecutor(1) as ex:
            b = MicroBatcher(
                "t", runner, max_batch=3, max_wait_ms=10_000, max_queue=10, executor=ex, clock=clock
            )
            return await asyncio.gather(
                b.submit_timed(["a"], "r1"), b.submit_timed(["b", "c"], "r2")
            )

    (out1, s1), (out2, s2) = asyncio.run(go())
    assert out1 == ["A"] and out2 == ["B", "C"]
    assert s1 == pytest.approx(0.1) and s2 == pytest.approx(0.2)  # one batch of 0.3 s, by inputs


def test_served_calls_carry_their_compute_time_into_costs(ws, tiny_trained, settings):
    billing.create_plan(ws.store, "open", price_per_1k="1.00")
    billing.create_tenant(ws.store, "acme", plan="open")
    key, _ = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        for texts in (["great phone", "awful battery", "fine"], ["love it"]):
            r = c.post(
                "/v1/scenarios/reviews/predict",
                json={"inputs": texts},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert r.status_code == 200, r.text
    s = settings.model_copy(update={"cost_cpu_core_hour": "36", "cost_cores_per_batch": 1})
    rep = insights.costs(ws.store, s, by="version")
    row = rep["rows"][0]
    assert row["version"] == "reviews:1" and row["calls"] == 2 and row["predictions"] == 4
    assert row["measured_share"] == 1.0 and row["compute_seconds"] > 0
    # 36 per core-hour = 10,000 micros per core-second
    # (compute_seconds is rounded to the millisecond: 5 micros either way)
    assert row["serving_micros"] == pytest.approx(row["compute_seconds"] * 10_000, abs=6)
