"""The economics checked by hand on one candidate, the power-law forecast, and the ranking's
reasons."""

from __future__ import annotations

from decimal import Decimal

import pytest

from modelmint.scout import CurvePoint, Pilot, Scenario, fit_power_law, price_pilot, rank
from modelmint.scout.spec import Compute

COMPUTE = Compute(cpu_core_hour=Decimal("0.25"), fixed_monthly=Decimal("300"))


def scenario(name: str = "reviews", **kw) -> Scenario:
    base = {
        "name": name,
        "data": {"path": "x.csv", "text": "review", "label": "sentiment"},
        "price_per_1k": "8.00",
        "monthly_calls": 2_000_000,
        "value_per_correct": "0.02",
        "cost_per_error": "0.05",
        "labelling_cost_per_row": "0.30",
    }
    return Scenario.model_validate({**base, **kw})


def pilot(name: str = "reviews", q=(0.90, 0.85, 0.94), baseline=0.5, **kw) -> Pilot:
    fields = {
        "name": name,
        "task": "text-classification",
        "metric": "accuracy",
        "rows_in_file": 1000,
        "rows_used": 1000,
        "audit": {},
        "flags": [],
        "quality": q[0],
        "low": q[1],
        "high": q[2],
        "fold_std": 0.01,
        "folds": 5,
        "baseline": baseline,
        "baseline_answer": "'pos'",
        "curve": [],
        "serving_cpu_s_per_1k": 36.0,
        "serving_wall_ms_per_call": 20.0,
        "serving_inputs": 128,
        "serving_batch": 64,
        "train_cpu_s": 72.0,
        "seconds": 10.0,
    }
    return Pilot(**{**fields, **kw})


def test_economics_by_hand():
    e = price_pilot(scenario(), COMPUTE, pilot(), "CNY")
    M = 1_000_000  # micro-units per CNY
    assert e.revenue == 16_000 * M  # 8.00 per 1k x 2,000,000 calls
    # 36 CPU core-seconds per 1k calls x 2,000 thousand calls = 20 core-hours x 0.25 = 5.00
    assert e.serving_cost == 5 * M
    assert e.serving_cost_per_1k == 2_500  # 36 / 3600 h x 0.25 = 0.0025
    assert e.fixed_cost == 300 * M
    # errors at the pessimistic quality 0.85: 2,000,000 x 0.15 x 0.05 = 15,000
    assert e.error_cost == 15_000 * M
    assert e.error_cost_expected == 10_000 * M  # at 0.90
    assert e.value == 36_000 * M  # 2,000,000 x 0.90 x 0.02
    assert e.margin == (16_000 - 5 - 300 - 15_000) * M  # 695.00
    assert e.margin_expected == (16_000 - 5 - 300 - 10_000) * M
    assert e.margin_optimistic == (16_000 - 5 - 300 - 6_000) * M  # 0.94: 6% wrong
    assert e.labelling_cost == 300 * M  # 1,000 rows x 0.30
    assert e.training_cost == 5_000  # 72 core-seconds = 0.02 h x 0.25 = 0.005
    assert e.payback_months == pytest.approx((300 * M + 5_000) / (695 * M), abs=1e-3)
    assert all(isinstance(v, int) for v in (e.revenue, e.serving_cost, e.error_cost, e.margin))


def test_subscription_revenue_and_no_payback_without_margin():
    s = scenario(
        price_per_1k=None,
        monthly_fee="20000",
        included_calls=100_000,
        overage_per_1k="200",
        monthly_calls=120_000,
        cost_per_error="10",
    )
    e = price_pilot(s, COMPUTE, pilot(), "CNY")
    assert e.revenue == 24_000 * 1_000_000  # 20,000 + 20,000 calls over x 0.20
    assert e.margin < 0 and e.payback_months is None


def test_power_law_fit_and_forecast():
    curve = [CurvePoint(0.25, 100, 0.8, 0.7, 0.9), CurvePoint(1.0, 400, 0.9, 0.85, 0.95)]
    a, b = fit_power_law(curve)
    assert a == pytest.approx(2.0) and b == pytest.approx(0.5)  # error = 2 / sqrt(rows)
    e = price_pilot(scenario(), COMPUTE, pilot(rows_in_file=400, curve=curve), "CNY")
    f = e.forecast
    assert f.quality_now == pytest.approx(0.9) and f.quality_2x == pytest.approx(
        1 - 2 / 800**0.5, abs=1e-4
    )
    assert f.quality_4x == pytest.approx(0.95, abs=1e-4)
    assert f.extra_labels_2x == 400 * 300_000  # 400 more rows x 0.30
    # 2,000,000 calls x (0.9293 - 0.9) x 0.05
    assert f.margin_gain_2x == pytest.approx(2_000_000 * (0.1 - 2 / 800**0.5) * 50_000, rel=1e-3)
    # flat or rising error: more labels are never forecast to hurt
    flat = [CurvePoint(0.5, 100, 0.9, 0.8, 0.95), CurvePoint(1.0, 200, 0.85, 0.8, 0.9)]
    assert fit_power_law(flat)[1] == 0.0
    assert fit_power_law([CurvePoint(1.0, 100, 0.9, 0.8, 0.95)]) is None


def test_ranking_reasons():
    items = [
        # solid: the best pessimistic margin
        (scenario("solid"), pilot("solid", q=(0.95, 0.93, 0.97))),
        # better on expectation, but its interval is wide: the error cost decides
        (scenario("shaky"), pilot("shaky", q=(0.97, 0.85, 0.99))),
        # unlearnable, priced 5x: must never win
        (scenario("random", price_per_1k="40"), pilot("random", q=(0.52, 0.46, 0.58))),
        # learnable, but earns less
        (scenario("small", monthly_calls=200_000), pilot("small", q=(0.95, 0.93, 0.97))),
    ]
    ranked = rank([(s, p, price_pilot(s, COMPUTE, p, "CNY")) for s, p in items])
    assert [r.name for r in ranked] == ["solid", "shaky", "small", "random"]
    reasons = {r.name: r.reason for r in ranked}
    assert reasons["solid"].startswith(
        "ranked 1st: the highest margin even at the pessimistic quality 0.93: 8,695.00 CNY a month on 16,000.00 CNY of revenue; labelling and training pay back in 1 day"
    )
    assert reasons["shaky"].startswith(
        "ranked 2nd: quality 0.97 ± 0.07 is too uncertain for the error cost of 0.05 CNY per call"
    )
    assert reasons["small"].startswith("ranked 3rd: earns less - 1,600.00 CNY a month")
    assert reasons["random"].startswith(
        "ranked 4th: not learnable from this data - quality 0.52 [0.46, 0.58] does not beat "
        "always answering 'pos' (0.50), so its price of 40.00 CNY per 1,000 calls cannot be earned"
    )
    assert ranked[3].economics.revenue > ranked[0].economics.revenue  # the price was higher
    assert "quality uncertain (± 0.07)" in ranked[1].risks


def test_error_cost_reason_and_flags():
    items = [
        (scenario("a"), pilot("a", q=(0.95, 0.93, 0.97))),
        (
            scenario("b", cost_per_error="0.07"),
            pilot("b", q=(0.95, 0.93, 0.97), flags=["12 inputs with conflicting labels"]),
        ),
    ]
    ranked = rank([(s, p, price_pilot(s, COMPUTE, p, "CNY")) for s, p in items])
    assert ranked[1].reason.startswith(
        "ranked 2nd: its errors cost more - 2,000,000 calls x 5% wrong (quality 0.95) x "
        "0.07 CNY = 7,000.00 CNY a month"
    )
    assert "12 inputs with conflicting labels" in ranked[1].risks
