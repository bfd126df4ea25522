"""The serving runtime over real HTTP (uvicorn in a thread, httpx clients in other threads):
micro-batching across scenarios on one encoder, hot swap under load, back-pressure, timeouts,
a crashing batch, a corrupt model, truncation, limits and /metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from tests.live import serving

from modelmint import billing, data, registry
from modelmint.modeling import get_encoder
from modelmint.pipeline import train_and_register
from modelmint.serve import create_app

ADMIN = "admin-secret-for-the-tests-0123456789"


def live(settings, store):
    """create_app on a real socket; yields the base URL."""
    return serving(create_app(settings, store))


def _key(ws, tenant="acme"):
    billing.create_plan(ws.store, "open", price_per_1k="1.00", quota=10**9)
    billing.create_tenant(ws.store, tenant, plan="open")
    key, _ = billing.create_key(ws.store, tenant)
    return {"Authorization": f"Bearer {key}"}


def _settings(ws, **kw):
    return ws.settings.model_copy(update={"admin_token": SecretStr(ADMIN), **kw})


def _copy_scenario(ws, reviews_csv, name):
    data.add_dataset(ws.store, ws.settings.datasets_dir, name, reviews_csv)
    out = train_and_register(ws, name)
    registry.promote(ws.store, out.model.ref)


def _post(client, scenario, texts, **kw):
    return client.post(f"/v1/scenarios/{scenario}/predict", json={"inputs": texts}, **kw)


def test_hot_swap_under_load_fails_no_request(ws, trained):
    """Eight clients call non-stop while production moves four times: through the admin API
    (this process warms, then switches) and behind the server's back (the registry, as the CLI
    does; the watcher warms, then switches). Every call succeeds."""
    train_and_register(ws, "reviews")  # reviews:2, not yet promoted
    headers = _key(ws)
    settings = _settings(ws, alias_refresh_seconds=0.2)
    stop = threading.Event()
    seen: Counter[str] = Counter()
    failures: list[str] = []

    with live(settings, ws.store) as url:

        def client() -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
                while not stop.is_set():
                    r = _post(c, "reviews", ["质量很好", "太差了"])
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text}")
                    else:
                        seen[r.json()["model"]] += 1

        def more_traffic(n: int = 10) -> None:
            """Wait (deadline, not a sleep) until n more answers came back to the clients."""
            target = sum(seen.values()) + n
            deadline = time.monotonic() + 30
            while sum(seen.values()) < target and not failures:
                assert time.monotonic() < deadline, "the clients got no answers"
                time.sleep(0.02)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"})
        user = httpx.Client(base_url=url, headers=headers)
        more_traffic()
        r = admin.post("/v1/admin/scenarios/reviews/promote", json={"version": 2})
        assert r.status_code == 200 and r.json()["was"] == 1, r.text
        # switched in this process before the admin call returned: the next request is on v2
        assert _post(user, "reviews", ["好"]).json()["model"] == "reviews:2"
        more_traffic()
        r = admin.post("/v1/admin/scenarios/reviews/rollback", json={"reason": "test"})
        assert r.json()["production"] == 1
        assert _post(user, "reviews", ["好"]).json()["model"] == "reviews:1"
        more_traffic()
        registry.promote(ws.store, "reviews:2")  # another process's promotion
        deadline = time.monotonic() + 20
        while _post(user, "reviews", ["好"]).json()["model"] != "reviews:2":
            assert time.monotonic() < deadline, "the watcher never switched"
            time.sleep(0.05)
        more_traffic()
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert seen["reviews:1"] > 0 and seen["reviews:2"] > 0, seen
    events = [e["action"] for e in ws.store.models.events("reviews")]
    assert events[-3:] == ["promote", "rollback", "promote"]  # audited like the CLI's


def test_scenarios_on_one_encoder_share_batches(ws, trained, reviews_csv):
    """Two scenarios on the same encoder: one batcher, and concurrent requests for both
    go through the same forward passes."""
    _copy_scenario(ws, reviews_csv, "reviews2")
    headers = _key(ws)
    settings = _settings(ws, max_batch_wait_ms=20.0)
    with live(settings, ws.store) as url:
        barrier = threading.Barrier(8)
        codes: list[int] = []

        def client(i: int) -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
                barrier.wait()
                for _ in range(5):
                    r = _post(c, "reviews" if i % 2 else "reviews2", ["质量很好，很满意"])
                    codes.append(r.status_code)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        metrics = httpx.get(f"{url}/metrics").text
    assert codes == [200] * 40
    batchers = {
        line.split('batcher="')[1].split('"')[0]
        for line in metrics.splitlines()
        if line.startswith("modelmint_batch_size_count")
    }
    assert batchers == {"encoder:multilingual-e5-small:128"}, batchers
    count = _sample(
        metrics, 'modelmint_batch_size_count{batcher="encoder:multilingual-e5-small:128"}'
    )
    total = _sample(
        metrics, 'modelmint_batch_size_sum{batcher="encoder:multilingual-e5-small:128"}'
    )
    assert total >= 40 and count < total, (count, total)  # some batches held several requests
    assert (
        _sample(
            metrics,
            'modelmint_predictions_total{scenario="reviews2",unit_type="predict",version="1"}',
        )
        == 20
    )
    assert (
        'modelmint_requests_total{route="/v1/scenarios/{scenario}/predict",status="200"} 40.0'
        in metrics
    )
    assert "modelmint_request_seconds_bucket" in metrics
    assert 'modelmint_model_load_seconds{scenario="reviews",version="1"}' in metrics
    assert "modelmint_queue_depth" in metrics


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.fixture
def slow_encoder(monkeypatch):
    """The shared encoder waits for `release` (or raises on texts containing 'boom')."""
    enc = get_encoder("multilingual-e5-small")
    real = enc.embed
    release = threading.Event()
    release.running = threading.Event()  # set when a slow batch has started and is held

    def embed(texts, max_tokens):
        if any("boom" in t for t in texts):
            raise RuntimeError("simulated kernel failure")
        if any("slow" in t for t in texts):
            release.running.set()
            release.wait(10)
        return real(texts, max_tokens)

    monkeypatch.setattr(enc, "embed", embed)
    yield release
    release.set()


def test_full_queue_answers_503_with_retry_after(ws, trained, slow_encoder):
    headers = _key(ws)
    settings = _settings(ws, max_queue=4, max_batch_size=1)
    with live(settings, ws.store) as url:
        results: list[httpx.Response] = []

        def client() -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
                results.append(_post(c, "reviews", ["slow 好"]))

        threads = [threading.Thread(target=client) for _ in range(10)]
        threads[0].start()
        assert slow_encoder.running.wait(20)  # the first is running, held: the queue is empty
        for t in threads[1:]:
            t.start()
        deadline = time.monotonic() + 20  # 4 queue behind it, 5 are refused at once
        while sum(r.status_code == 503 for r in results) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        slow_encoder.set()
        for t in threads:
            t.join(30)
    codes = Counter(r.status_code for r in results)
    assert codes[200] == 5 and codes[503] == 5, codes  # one running + 4 queued; the rest refused
    busy = next(r for r in results if r.status_code == 503)
    assert int(busy.headers["Retry-After"]) >= 1
    assert "at capacity" in busy.json()["error"] and busy.json()["request_id"]
    usage = billing.usage_summary(ws.store, tenant="acme")[0]
    assert usage["total_units"] == 5  # refused calls are not metered


def test_request_timeout_is_504_and_not_metered(ws, trained, slow_encoder):
    headers = _key(ws)
    with live(_settings(ws, request_timeout_seconds=0.5), ws.store) as url:
        r = httpx.post(
            f"{url}/v1/scenarios/reviews/predict",
            json={"inputs": ["slow 好"]},
            headers=headers,
            timeout=30,
        )
        slow_encoder.set()
        assert r.status_code == 504 and "0.5 s" in r.json()["error"]
        ok = httpx.post(
            f"{url}/v1/scenarios/reviews/predict",
            json={"inputs": ["好"]},
            headers=headers,
            timeout=30,
        )
        assert ok.status_code == 200
    assert billing.usage_summary(ws.store, tenant="acme")[0]["total_units"] == 1


def test_crash_in_a_batch_fails_only_that_batch(ws, trained, slow_encoder, caplog):
    headers = _key(ws)
    with (
        live(_settings(ws), ws.store) as url,
        httpx.Client(base_url=url, headers=headers, timeout=30) as c,
    ):
        with caplog.at_level(logging.ERROR):
            bad = _post(c, "reviews", ["boom 好"])
        assert bad.status_code == 500
        body = bad.json()
        rid = body["request_id"]
        assert rid and rid in body["error"] and rid == bad.headers["x-request-id"]
        # the server log names the failed batch, its request ids and the cause
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert rid in logged and "failed" in logged
        assert any("simulated kernel failure" in str(r.exc_info) for r in caplog.records)
        assert _post(c, "reviews", ["质量很好"]).status_code == 200  # still serving
    assert billing.usage_summary(ws.store, tenant="acme")[0]["total_units"] == 1


def test_corrupt_model_is_not_ready_and_others_keep_serving(ws, trained, reviews_csv):
    _copy_scenario(ws, reviews_csv, "broken")
    model_dir = Path(registry.get(ws.store, "broken:1").path)
    victim = next(p for p in sorted(model_dir.rglob("*")) if p.is_file())
    victim.chmod(0o644)
    victim.write_bytes(b"corrupted")
    headers = _key(ws)
    with (
        live(_settings(ws), ws.store) as url,
        httpx.Client(base_url=url, headers=headers, timeout=30) as c,
    ):
        ready = c.get("/readyz")
        assert ready.status_code == 200  # one scenario down does not take the replica out
        scenarios = ready.json()["scenarios"]
        assert scenarios["reviews"] == {"ready": True, "model": "reviews:1"}
        assert scenarios["broken"]["ready"] is False and "checksum" in scenarios["broken"]["error"]
        r = _post(c, "broken", ["好"])
        assert r.status_code == 503 and "broken:1 cannot be loaded" in r.json()["error"]
        assert _post(c, "reviews", ["质量很好"]).status_code == 200
        # a version that cannot load is never promoted through the admin API
        admin = {"Authorization": f"Bearer {ADMIN}"}
        train_and_register(ws, "reviews")  # reviews:2
        v2 = Path(registry.get(ws.store, "reviews:2").path)
        (v2 / "config.json").chmod(0o644)
        (v2 / "config.json").write_text("{}")
        r = c.post("/v1/admin/scenarios/reviews/promote", json={"version": 2}, headers=admin)
        assert r.status_code in (409, 503) and "reviews:2" in r.json()["error"], r.text
        assert ws.store.models.resolve_alias("reviews", "production") == 1
        assert _post(c, "reviews", ["质量很好"]).json()["model"] == "reviews:1"
        r = c.post("/v1/admin/scenarios/nope/promote", json={"version": 1}, headers=admin)
        assert r.status_code == 404


def test_limits_and_truncation(ws, trained):
    headers = _key(ws)
    settings = _settings(ws, max_body_bytes=10_000_000)
    with (
        live(settings, ws.store) as url,
        httpx.Client(base_url=url, headers=headers, timeout=60) as c,
    ):
        long = "质量很好，" * 400  # far past the 128-token window
        r = _post(c, "reviews", [long, "好"])
        assert r.status_code == 200
        preds = r.json()["predictions"]
        assert preds[0]["truncated"] is True and "truncated" not in preds[1]
        big = c.post(
            "/v1/scenarios/reviews/predict",
            content=b'{"inputs": ["' + b"x" * 11_000_000 + b'"]}',
            headers={"Content-Type": "application/json"},
        )
        assert big.status_code == 413 and big.json()["request_id"]
        many = _post(c, "reviews", ["好"] * 100_000)
        assert many.status_code == 413 and "100000 inputs" in many.json()["error"]
        bad_utf8 = c.post(
            "/v1/scenarios/reviews/predict",
            content=b'{"inputs": ["\xc3\x28 broken"]}',
            headers={"Content-Type": "application/json"},
        )
        assert bad_utf8.status_code == 400
        assert _post(c, "reviews", ["bell \u0007"]).status_code == 400
    assert billing.usage_summary(ws.store, tenant="acme")[0]["total_units"] == 2
