"""Revenue allocated from invoices (issued, credit notes, drafts) to scenarios, unit types and
versions sums to the invoice totals to the micro-unit on every period; the cost to serve comes
from the compute time recorded with each prediction; margin and exchange rates. SQLite and
PostgreSQL, on the pinned clock."""

from __future__ import annotations

import pytest
import time_machine
from tests.clock import LAST, THIS, inside, start_of
from tests.usage import meter

from modelmint import billing, insights
from modelmint.billing import invoices
from modelmint.errors import InvalidInput
from modelmint.insights.allocation import apportion
from modelmint.store import new_id
from modelmint.types import MeterOutcome


def _rows(n: int, version: int, compute_ms: float) -> list[dict]:
    return [
        dict(
            id=new_id(),
            model_version=version,
            input_text="x",
            label="pos",
            score=0.9,
            latency_ms=1.0,
            compute_ms=compute_ms,
            arm=None,  # the server logs every row with its arm and pair (executemany takes
            paired_id=None,  # the first row's columns for all)
        )
        for _ in range(n)
    ]


def _use(
    ws, tenant, n, *, scenario="reviews", unit_type="predict", period=LAST, version=1, ms=10.0
):
    rows = _rows(n, version, ms)
    out = meter(
        ws, tenant, rows, scenario=scenario, unit_type=unit_type, period=period, at=inside(period)
    )
    assert out == MeterOutcome.OK


@pytest.fixture
def books(ws):
    s = ws.store
    billing.create_plan(s, "payg", price_per_1k="2.00", prices=["reviews:explain=5.00"])
    billing.create_plan(s, "tiered", tiers=["1000=3.00", "inf=1.00"])
    billing.create_plan(s, "sub", fee="30.00", included=500, price_per_1k="1.50")
    billing.create_plan(s, "trial", price_per_1k="2.00", trial_days=3)
    with time_machine.travel(start_of(LAST), tick=False):
        billing.create_tenant(s, "acme", plan="payg", discount_percent="10")
        billing.create_tenant(s, "beta", plan="tiered")
        billing.create_tenant(s, "gamma", plan="sub")
        billing.create_tenant(s, "quiet", plan="sub")
        billing.create_tenant(s, "delta", plan="trial")
    _use(ws, "acme", 1500)
    _use(ws, "acme", 700, version=2, ms=20.0)
    _use(ws, "acme", 250, unit_type="explain", ms=40.0)
    _use(ws, "acme", 333, scenario="tickets")
    _use(ws, "beta", 900)
    _use(ws, "beta", 777, scenario="tickets", version=3)
    _use(ws, "gamma", 400)
    _use(ws, "gamma", 301, scenario="tickets")
    _use(ws, "delta", 120)  # on the 10th: after the 3-day trial
    with time_machine.travel(start_of(LAST), tick=False):
        _use_at(ws, "delta", 50)  # inside the trial: free
    _use(ws, "acme", 11, period=THIS, version=2)
    _use(ws, "gamma", 13, period=THIS)
    invoices.close_period(s, LAST, tax_rate="20")
    acme_inv = next(
        i for i in s.invoices.list(period=LAST) if i["tenant_id"] == s.billing.tenant("acme")["id"]
    )
    invoices.credit_note(s, acme_inv["number"], amount="1.23", reason="outage")
    return ws


def _use_at(ws, tenant, n):
    from tests.usage import rows  # the plain helper, metered at the clock's instant

    assert meter(ws, tenant, rows(n), period=LAST) == MeterOutcome.OK


def test_apportion_is_exact():
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(apportion(1_000_003, [0.2, 0.3, 0.5, 1e-9])) == 1_000_003
    assert apportion(-7, [1, 2]) == [-2, -5]
    assert apportion(5, [0, 0]) == [3, 2]
    assert apportion(0, [3, 4]) == [0, 0]


def test_allocations_sum_to_every_invoice_total(books, settings):
    ws = books
    rep = insights.revenue(ws.store, settings, by="version", since=f"{LAST}-01", until=f"{THIS}-01")
    assert rep["span"]["periods"] == [LAST, THIS]
    docs = rep["invoices"]
    assert {d["status"] for d in docs} == {"issued", "draft"}
    assert any(d["kind"] == "credit_note" for d in docs)
    for d in docs:  # every invoice, credit note and draft: exact to the micro
        assert d["allocated_micros"] == d["total_micros"], d
    total = sum(d["total_micros"] for d in docs)
    assert sum(r["revenue_micros"] for r in rep["rows"]) == total
    # the same total whatever the grouping
    for by in ("scenario", "tenant", "plan"):
        r = insights.revenue(ws.store, settings, by=by, since=f"{LAST}-01", until=f"{THIS}-01")
        assert sum(x["revenue_micros"] for x in r["rows"]) == total
    rows = {r["version"]: r for r in rep["rows"]}
    # quiet's fee has no usage to go to: it stays visible as subscription revenue
    assert rows["(subscription) (no version)"]["revenue_micros"] > 0
    # acme's explain units are priced 5.00: version 1 carries them
    assert rows["reviews:1"]["revenue_micros"] > rows["reviews:2"]["revenue_micros"]
    assert rows["tickets:3"]["calls"] == 1


def test_allocation_by_hand_for_one_invoice(books, settings):
    ws = books
    rep = insights.revenue(ws.store, settings, by="tenant", period=LAST)
    beta = next(r for r in rep["rows"] if r["tenant"] == "beta")
    # tiered graduated: 1,677 units -> 1,000 x 3.00 + 677 x 1.00 per 1k = 3.677; no tax? 20%
    assert beta["issued_micros"] == 3_677_000 + 735_400
    rep = insights.revenue(ws.store, settings, by="scenario", period=LAST)
    by = {r["scenario"]: r for r in rep["rows"]}
    assert by["(subscription)"]["revenue"] == "36.00"  # quiet: 30.00 + 20% tax
    assert all(d["status"] == "issued" for d in rep["invoices"])


def test_cost_comes_from_recorded_compute_time(books, settings):
    ws = books
    s = settings.model_copy(update={"cost_cpu_core_hour": "3.60", "cost_cores_per_batch": 2})
    rep = insights.costs(ws.store, s, by="version", period=LAST)
    rows = {r["version"]: r for r in rep["rows"]}
    # acme v1: 1500 x 10 ms + 250 x 40 ms; beta v1: 900 x 10; gamma: 400 x 10; delta: 120 x
    # 10 (its 50 trial calls were logged without a compute time: not measured)
    v1 = rows["reviews:1"]
    assert v1["compute_seconds"] == pytest.approx(15 + 10 + 9 + 4 + 1.2)
    assert v1["core_seconds"] == pytest.approx(2 * 39.2)
    assert v1["measured_share"] == round(3170 / 3220, 4)
    # 3.60 per core-hour = 1,000 micros per core-second; 2 cores
    assert v1["serving_micros"] == pytest.approx(78_400, abs=5)
    assert v1["calls"] == 6
    assert v1["per_1k_calls_micros"] == (v1["cost_micros"] * 1000 + 3) // 6
    assert rows["reviews:2"]["compute_seconds"] == pytest.approx(14.0)
    assert rep["prices"]["cores_per_batch"] == 2
    # no price: seconds are still there, and a note says money is missing
    bare = insights.costs(ws.store, settings, by="scenario", period=LAST)
    assert any("no compute price" in n for n in bare["notes"])
    assert all(r["cost_micros"] == 0 for r in bare["rows"])


def test_margin_and_fixed_costs(books, settings):
    ws = books
    s = settings.model_copy(
        update={"cost_cpu_core_hour": "3.60", "cost_cores_per_batch": 1, "cost_fixed_monthly": "10"}
    )
    rev = insights.revenue(ws.store, s, by="scenario", period=LAST)
    rep = insights.margin(ws.store, s, by="scenario", period=LAST)
    total_rev = sum(r["revenue_micros"] for r in rev["rows"])
    assert sum(r["revenue_micros"] for r in rep["rows"]) == total_rev
    cost = sum(r["cost_micros"] for r in rep["rows"])
    assert cost == pytest.approx(10_000_000 + 1000 * (39.2 + 14 + 3.33 + 7.77 + 3.01), abs=10)
    for r in rep["rows"]:
        assert r["margin_micros"] == r["revenue_micros"] - r["cost_micros"]
    assert rep["series"][0]["margin_micros"] == total_rev - cost


def test_shadow_compute_is_the_experiments_cost(ws, settings):
    billing.create_plan(ws.store, "payg", price_per_1k="2.00")
    with time_machine.travel(start_of(LAST), tick=False):
        billing.create_tenant(ws.store, "acme", plan="payg")
    prod = _rows(10, 1, 10.0)
    shadow = [
        dict(r, id=new_id(), model_version=2, arm="shadow", paired_id=r["id"], compute_ms=30.0)
        for r in prod
    ]
    from modelmint.billing.rules import RULES
    from modelmint.types import MeterItem

    item = MeterItem(
        request_id=new_id(),
        tenant_id=ws.store.billing.tenant("acme")["id"],
        key_id="k",
        scenario="reviews",
        period=LAST,
        quota=None,
        prediction_rows=tuple(prod),
        shadow_rows=tuple(shadow),
    )
    with time_machine.travel(inside(LAST), tick=False):
        assert ws.store.billing.record_request(item, RULES) == MeterOutcome.OK
    s = settings.model_copy(update={"cost_cpu_core_hour": "3.60", "cost_cores_per_batch": 1})
    rep = insights.costs(ws.store, s, by="version", period=LAST)
    rows = {r["version"]: r for r in rep["rows"]}
    assert rows["reviews:1"]["serving_micros"] == 100 and rows["reviews:1"]["calls"] == 1
    assert rows["reviews:2"]["experiment_micros"] == 300
    assert rows["reviews:2"]["experiment_seconds"] == pytest.approx(0.3)
    assert rows["reviews:2"]["serving_micros"] == 0
    rev = insights.revenue(ws.store, s, by="version", period=LAST)
    assert [r["version"] for r in rev["rows"]] == ["reviews:1"]  # the shadow earns nothing


def test_currencies_stay_apart_until_rates_are_given(ws, settings):
    s = ws.store
    billing.create_plan(s, "usd", price_per_1k="2.00")
    billing.create_plan(s, "cny", price_per_1k="10.00", currency="CNY")
    with time_machine.travel(start_of(LAST), tick=False):
        billing.create_tenant(s, "us", plan="usd")
        billing.create_tenant(s, "cn", plan="cny")
    _use(ws, "us", 1000)
    _use(ws, "cn", 1000)
    rep = insights.revenue(s, settings, by="scenario", period=LAST)
    assert {(r["currency"], r["revenue"]) for r in rep["rows"]} == {
        ("USD", "2.00"),
        ("CNY", "10.00"),
    }
    with pytest.raises(
        InvalidInput, match=r"no CNY->USD exchange rate on or before .*fx set CNY USD"
    ):
        insights.revenue(s, settings, period=LAST, currency="USD")
    insights.set_rate(s, "USD", "CNY", "8", f"{LAST}-01")
    rep = insights.revenue(s, settings, period=LAST, currency="USD")
    assert [(r["currency"], r["revenue"]) for r in rep["rows"]] == [("USD", "3.25")]
    assert rep["converted"] and any("converted CNY->USD at 1/8" in n for n in rep["notes"])
    # margin per currency: the USD cost meets CNY revenue only through a rate
    st = settings.model_copy(update={"cost_cpu_core_hour": "3.60", "cost_cores_per_batch": 1})
    m = insights.margin(s, st, period=LAST)
    cny = next(r for r in m["rows"] if r["currency"] == "CNY")
    assert cny["cost_micros"] == 80_000  # 10 s x 1,000 micros (USD) x 8
    with pytest.raises(InvalidInput, match="rate 'abc' is not a number"):
        insights.set_rate(s, "USD", "CNY", "abc", "2026-11-01")
    with pytest.raises(InvalidInput, match="ISO 4217"):
        insights.set_rate(s, "USD", "XYZ", "1", "2026-11-01")
    with pytest.raises(InvalidInput, match="always 1"):
        insights.set_rate(s, "USD", "usd", "1", "2026-11-01")


def test_bad_spans_are_refused(ws, settings):
    with pytest.raises(InvalidInput, match="in the future"):
        insights.revenue(ws.store, settings, period="2999-01")
    with pytest.raises(InvalidInput, match="not one of scenario, tenant, version, plan"):
        insights.revenue(ws.store, settings, by="colour")
    with pytest.raises(InvalidInput, match="before --since"):
        insights.margin(ws.store, settings, since="2026-10-05", until="2026-10-01")
    with pytest.raises(InvalidInput, match="not a date"):
        insights.costs(ws.store, settings, since="yesterday")


def test_versions_side_by_side_on_money_and_outcomes(ws, settings):
    billing.create_plan(ws.store, "payg", price_per_1k="2.00")
    with time_machine.travel(start_of(LAST), tick=False):
        billing.create_tenant(ws.store, "acme", plan="payg")
    tid = ws.store.billing.tenant("acme")["id"]
    v1 = _rows(100, 1, 10.0)
    v2 = _rows(100, 2, 20.0)
    for rows in (v1, v2):
        assert meter(ws, "acme", rows, period=LAST, at=inside(LAST)) == MeterOutcome.OK
    for r in v1[:10]:  # v1 converts 10%, v2 30% worth 5.0 each
        ws.store.feedback.add_outcome(r["id"], tid, "converted", 1.0)
    for r in v2[:30]:
        ws.store.feedback.add_outcome(r["id"], tid, "converted", 5.0)
    s = settings.model_copy(update={"cost_cpu_core_hour": "3.60", "cost_cores_per_batch": 1})
    rep = insights.experiments(ws.store, s, period=LAST)
    by = {r["version"]: r for r in rep["rows"]}
    assert by[1]["outcomes"]["converted"]["rate"] == 0.1
    assert by[2]["outcomes"]["converted"]["rate"] == 0.3
    assert by[2]["outcomes"]["converted"]["value_per_call"] == 1.5  # 30 x 5.0 / 100 predictions
    low, high = by[2]["outcomes"]["converted"]["interval"]
    assert low < 0.3 < high
    assert by[1]["revenue_micros"] == by[2]["revenue_micros"] == 200_000  # 100 units x 2.00/1k
    assert by[1]["cost_micros"] == 1_000 and by[2]["cost_micros"] == 2_000
    assert by[1]["margin_micros"] == 199_000 and by[2]["margin_micros"] == 198_000
