"""Rate and concurrency limits: every backend (memory, the database, Redis) keeps the same
token-bucket and in-flight rules; the shared ones are exact across processes; Redis failure
follows the setting."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import uuid

import pytest
from fastapi.testclient import TestClient

from modelmint import billing
from modelmint.billing.limits import DatabaseBackend, Limits, MemoryBackend, RedisBackend
from modelmint.errors import RateLimited, ServiceUnavailable
from modelmint.serve import create_app

REDIS = os.environ.get("MODELMINT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def _backend(kind: str, ws):
    if kind == "memory":
        return MemoryBackend()
    if kind == "database":
        return DatabaseBackend(ws.store)
    if not _redis_up():
        pytest.skip(f"Redis not reachable at {REDIS} (set MODELMINT_TEST_REDIS_URL)")
    return RedisBackend(REDIS, "closed", prefix=f"test:{uuid.uuid4().hex}:")


def _caller(**kw):
    base = dict(
        key_id="k1",
        tenant_id=1,
        tenant="acme",
        plan="p",
        currency="USD",
        price_per_1k_micros=0,
        monthly_quota=None,
        rate_limit_rps=None,
        burst=None,
    )
    return billing.Caller(**{**base, **kw})


@pytest.mark.parametrize("kind", ["memory", "database", "redis"])
def test_rules_are_the_same_on_every_backend(kind, ws):
    limits = Limits(_backend(kind, ws))
    key = _caller(rate_limit_rps=0.01, burst=3)
    for i in range(3):
        limits.acquire(key, f"a{i}")
    with pytest.raises(RateLimited) as err:
        limits.acquire(key, "a3")
    assert err.value.limit == "rate" and err.value.retry_after >= 1
    # the tenant's rate counts every key of the tenant
    a, b = (
        _caller(key_id="ka", tenant_rate_limit_rps=0.01),
        _caller(key_id="kb", tenant_rate_limit_rps=0.01),
    )
    limits.acquire(a, "t0")
    with pytest.raises(RateLimited) as err:
        limits.acquire(b, "t1")
    assert err.value.limit == "tenant_rate"
    # calls in flight: two at most, a finished one frees its place
    busy = _caller(tenant_id=2, max_concurrent=2)
    first = limits.acquire(busy, "c0")
    limits.acquire(busy, "c1")
    with pytest.raises(RateLimited) as err:
        limits.acquire(busy, "c2")
    assert err.value.limit == "concurrency"
    limits.release(first)
    assert limits.acquire(busy, "c3") is not None


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_the_event_loop_path_applies_the_same_rules(kind, ws):
    """What the server runs: memory and Redis (redis.asyncio) checks on the event loop."""
    limits = Limits(_backend(kind, ws))
    assert limits.is_async

    async def run() -> None:
        key = _caller(rate_limit_rps=0.01, burst=2)
        await limits.acquire_async(key, "a0")
        limits.acquire(key, "a1")  # the blocking path takes from the same bucket
        with pytest.raises(RateLimited) as err:
            await limits.acquire_async(key, "a2")
        assert err.value.limit == "rate"
        busy = _caller(tenant_id=3, max_concurrent=1)
        lease = await limits.acquire_async(busy, "c0")
        with pytest.raises(RateLimited) as err:
            await limits.acquire_async(busy, "c1")
        assert err.value.limit == "concurrency"
        await limits.release_async(lease)
        assert await limits.acquire_async(busy, "c2") is not None

    asyncio.run(run())
    assert not Limits(DatabaseBackend(ws.store)).is_async  # the server runs it in a thread


def _hammer(kind: str, url: str, prefix: str, n: int, out) -> None:
    from modelmint.store import open_store

    backend = (
        DatabaseBackend(open_store(url))
        if kind == "database"
        else RedisBackend(url, "closed", prefix)
    )
    limits = Limits(backend)
    caller = _caller(key_id="shared", rate_limit_rps=0.001, burst=50)
    ok = 0
    for i in range(n):
        try:
            limits.acquire(caller, f"{os.getpid()}-{i}")
            ok += 1
        except RateLimited:
            pass
    out.put(ok)


@pytest.mark.parametrize("kind", ["database", "redis"])
def test_shared_backends_are_exact_across_processes(kind, ws):
    if kind == "redis" and not _redis_up():
        pytest.skip(f"Redis not reachable at {REDIS}")
    url = ws.settings.sqlalchemy_url if kind == "database" else REDIS
    prefix = f"test:{uuid.uuid4().hex}:"
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(kind, url, prefix, 40, out)) for _ in range(2)]
    for p in procs:
        p.start()
    served = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    assert served == 50  # the burst, exactly: never 51, whatever the interleaving


def test_redis_failure_follows_the_setting():
    down = "redis://127.0.0.1:1/0"  # nothing listens there
    caller = _caller(rate_limit_rps=0.01, burst=1)
    with pytest.raises(ServiceUnavailable, match="refuse calls"):
        Limits(RedisBackend(down, "closed")).acquire(caller, "r0")
    local = Limits(RedisBackend(down, "local"))
    local.acquire(caller, "r1")  # per-process buckets while Redis is away
    with pytest.raises(RateLimited):
        local.acquire(caller, "r2")
    with pytest.raises(ServiceUnavailable, match="refuse calls"):  # the same on the event loop
        asyncio.run(Limits(RedisBackend(down, "closed")).acquire_async(caller, "r3"))
    local = Limits(RedisBackend(down, "local"))
    asyncio.run(local.acquire_async(caller, "r4"))
    with pytest.raises(RateLimited):
        asyncio.run(local.acquire_async(caller, "r5"))


def test_http_answers_429_naming_the_limit(ws, tiny_trained):
    billing.create_plan(ws.store, "t", price_per_1k="1.00", tenant_rate_limit=0.01)
    billing.create_tenant(ws.store, "acme", plan="t")
    keys = [billing.create_key(ws.store, "acme")[0] for _ in range(2)]
    settings = ws.settings.model_copy(update={"rate_limit_backend": "database"})
    with TestClient(create_app(settings, ws.store)) as c:
        url = "/v1/scenarios/reviews/predict"
        ok = c.post(url, json={"inputs": ["好"]}, headers={"Authorization": f"Bearer {keys[0]}"})
        assert ok.status_code == 200
        r = c.post(url, json={"inputs": ["好"]}, headers={"Authorization": f"Bearer {keys[1]}"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["errors"][0]["limit"] == "tenant_rate"
    assert billing.usage_summary(ws.store, tenant="acme")[0]["total_units"] == 1


def test_budget_caps_spend_like_a_quota_in_money(ws, tiny_trained):
    # 2.00 per 1,000 units and a budget of 0.011: 5 units cost 0.010, 6 would cost 0.012
    billing.create_plan(ws.store, "capped", price_per_1k="2.00", quota=100, budget="0.011")
    billing.create_tenant(ws.store, "acme", plan="capped")
    key, _ = billing.create_key(ws.store, "acme")
    assert billing.max_units_within(11_000, 2_000_000) == 5
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        url = "/v1/scenarios/reviews/predict"
        assert c.post(url, json={"inputs": ["好"] * 4}).status_code == 200
        r = c.post(url, json={"inputs": ["好"] * 2})
        assert r.status_code == 429 and r.json()["errors"][0]["limit"] == "budget"
        assert "budget of 0.011 USD" in r.json()["error"]
        assert c.post(url, json={"inputs": ["好"]}).status_code == 200  # the 5th unit fits
        assert c.post(url, json={"inputs": ["好"]}).status_code == 429
    usage = billing.usage_summary(ws.store, tenant="acme")[0]
    assert usage["total_units"] == 5 and usage["amount_due"] == "0.01"
