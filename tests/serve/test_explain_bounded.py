"""A flood of explain calls cannot take the server down (issue 12 §1): explain runs on its own
bounded queue with one explanation at a time, another tenant's calls stay served meanwhile, a
call that times out stops its work, and an explanation that answers is metered as `explain`.

The model's explain is held on an event, so the test waits on events and deadlines, never on
how fast this machine is."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from modelmint import billing
from modelmint.serve import create_app

URL = "/v1/scenarios/reviews/predict"


def _wait(cond, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_an_explain_flood_is_bounded_cancelled_and_leaves_other_tenants_served(ws, trained):
    billing.create_plan(ws.store, "p", price_per_1k="1.00")
    billing.create_tenant(ws.store, "flood", plan="p")
    billing.create_tenant(ws.store, "other", plan="p")
    flood_key, _ = billing.create_key(ws.store, "flood")
    other_key, _ = billing.create_key(ws.store, "other")
    settings = ws.settings.model_copy(
        update={"explain_max_queue": 4, "explain_concurrency": 1, "request_timeout_seconds": 1.0}
    )
    app = create_app(settings, ws.store)
    gate = threading.Event()
    active, peak, calls = [0], [0], [0]
    lock = threading.Lock()
    with TestClient(app) as c:
        model = app.state.pool.production("reviews").model
        real_explain = model.explain

        def held_explain(value, top_k=8):
            with lock:
                active[0] += 1
                calls[0] += 1
                peak[0] = max(peak[0], active[0])
            try:
                gate.wait(30)
                return real_explain(value, top_k)
            finally:
                with lock:
                    active[0] -= 1

        model.explain = held_explain
        flood = {"Authorization": f"Bearer {flood_key}"}
        other = {"Authorization": f"Bearer {other_key}"}
        body = {"inputs": ["质量很好，物流也快" * 100], "explain": True}  # ~900 characters
        with ThreadPoolExecutor(48) as pool:
            futures = [pool.submit(c.post, URL, json=body, headers=flood) for _ in range(45)]
            assert _wait(lambda: calls[0] == 1)  # one explanation is running, held
            # meanwhile another tenant is served at once: usage and a plain predict
            assert c.get("/v1/usage", headers=other).status_code == 200
            r = c.post(URL, json={"inputs": ["很好"]}, headers=other)
            assert r.status_code == 200 and not gate.is_set()
            codes = sorted(f.result(timeout=60).status_code for f in futures)
        # 4 accepted (the queue bound) and timed out while held; 41 refused at once with 503
        assert codes.count(503) == 41 and codes.count(504) == 4
        gate.set()
        assert _wait(lambda: app.state.explainer.queued == 0)
        assert peak[0] == 1  # never more than one occlusion batch in memory
        assert calls[0] == 1  # the three queued behind it never ran: their callers had left
        # nothing was metered for the refused and timed-out calls
        assert c.get("/v1/usage", headers=flood).json()["total_units"] == 0
        # an explanation that answers is metered as explain
        r = c.post(URL, json={"inputs": ["很好", "太差了"], "explain": True}, headers=flood)
        assert r.status_code == 200 and r.json()["predictions"][0]["explanation"]
        by_day = c.get("/v1/usage", headers=flood).json()["by_day"]
        assert [(d["unit_type"], d["units"]) for d in by_day] == [("explain", 2)]
        # more inputs than the explain queue holds is refused outright, naming the limit
        r = c.post(URL, json={"inputs": ["好"] * 5, "explain": True}, headers=flood)
        assert r.status_code == 413 and "MODELMINT_EXPLAIN_MAX_QUEUE" in r.json()["error"]
