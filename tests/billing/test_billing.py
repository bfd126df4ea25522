from __future__ import annotations

import threading

import pytest
from tests.clock import THIS

from modelmint import billing
from modelmint.billing.rules import RULES
from modelmint.errors import Conflict, InvalidInput, NotFound, RateLimited, Unauthorized
from modelmint.store import new_id
from modelmint.types import MeterItem, MeterOutcome, Money


def test_money_is_integer_micros():
    assert Money.parse("2.00").micros == 2_000_000
    assert Money.parse("0.1").micros + Money.parse("0.2").micros == Money.parse("0.3").micros
    assert Money.parse("19.999999").decimal_str() == "19.999999"
    assert Money(802_000).decimal_str() == "0.802"
    assert Money(800_000).decimal_str() == "0.80"
    for bad in ("abc", "-1", "NaN", "inf"):
        with pytest.raises(InvalidInput):
            Money.parse(bad)
    assert billing.amount_for(401, 2_000_000) == 802_000
    assert billing.amount_for(1, 1) == 0 and billing.amount_for(1, 500) == 1  # half up


def test_plans_tenants_keys(ws):
    p = billing.create_plan(ws.store, "starter", price_per_1k="2.00", quota=100_000)
    assert p["price_per_1k_micros"] == 2_000_000 and p["monthly_quota"] == 100_000
    with pytest.raises(Conflict, match="already exists"):
        billing.create_plan(ws.store, "starter", price_per_1k="1")
    with pytest.raises(NotFound, match="plans create"):
        billing.create_tenant(ws.store, "acme", plan="nosuch")
    billing.create_tenant(ws.store, "acme", plan="starter")
    key, rec = billing.create_key(ws.store, "acme")
    assert key.startswith("mm_live_") and len(key) > 30
    # stored hashed: the key itself appears nowhere in the database
    stored = ws.store.billing.key_by_hash(billing.hash_key(key))
    assert stored["tenant"] == "acme" and stored["key_hash"] != key
    assert key not in str(ws.store.billing.keys())
    caller = billing.authenticate(ws.store, f"Bearer {key}")
    assert caller.tenant == "acme" and caller.monthly_quota == 100_000
    ws.store.billing.revoke_key(rec["id"])
    with pytest.raises(Unauthorized, match="revoked"):
        billing.authenticate(ws.store, f"Bearer {key}")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing API key"),
        ("Basic abc", "malformed"),
        ("Bearer mm_live_nope", "unknown API key"),
    ],
)
def test_bad_keys(ws, header, message):
    with pytest.raises(Unauthorized, match=message):
        billing.authenticate(ws.store, header)


def test_rate_limiter_token_bucket():
    from modelmint.billing.limits import Limits, MemoryBackend

    c = billing.Caller("k", 1, "t", "p", "USD", 0, None, rate_limit_rps=1.0, burst=3)
    rl = Limits(MemoryBackend())
    for i in range(3):
        rl.acquire(c, f"r{i}")
    with pytest.raises(RateLimited) as err:
        rl.acquire(c, "r3")
    assert err.value.limit == "rate" and err.value.retry_after >= 1


def test_quota_is_exact_under_concurrent_writers(ws):
    billing.create_plan(ws.store, "tiny", price_per_1k="1.00", quota=25)
    t = billing.create_tenant(ws.store, "acme", plan="tiny")
    _, key = billing.create_key(ws.store, "acme")
    accepted: list[bool] = []

    def call():
        rows = [
            {
                "id": new_id(),
                "model_version": 1,
                "input_text": "x",
                "label": "pos",
                "score": 0.9,
                "latency_ms": 1.0,
            }
            for _ in range(2)
        ]
        item = MeterItem(
            request_id=new_id(),
            tenant_id=t["id"],
            key_id=key["id"],
            scenario="s",
            period=THIS,
            quota=25,
            prediction_rows=tuple(rows),
        )
        accepted.append(ws.store.billing.record_request(item, RULES) == MeterOutcome.OK)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(accepted) == 20  # every writer finished without an error
    assert accepted.count(True) == 12  # 12 x 2 = 24 <= 25; the 13th would make 26
    assert ws.store.billing.units_used(t["id"], THIS) == 24
    usage = billing.usage_summary(ws.store, period=THIS, tenant="acme")[0]
    assert usage["total_units"] == 24 and usage["requests"] == 12
    assert ws.store.feedback.counts("s")["predictions"] == 24  # no prediction without usage


def test_usage_summary_bad_period(ws):
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        billing.usage_summary(ws.store, period="2026-13")
