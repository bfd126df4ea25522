"""Plans: free tier, per-scenario and per-unit-type prices, subscription with included units and
overage, graduated and volume tiers, trials, versions, and proration on a mid-period plan change;
through the Python API, the CLI and the admin HTTP API (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.clock import LAST, NOW, inside, start_of
from tests.usage import meter

from modelmint import billing
from modelmint.billing import invoices
from modelmint.cli import main
from modelmint.errors import InvalidInput
from modelmint.serve import create_app
from modelmint.types import MeterOutcome


def _use(ws, tenant, scenario, units, unit_type="predict", period=LAST, at=None):
    """`units` billed units for `tenant`, metered at `at` (default: inside `period`)."""
    outcome = meter(
        ws,
        tenant,
        units,
        scenario=scenario,
        unit_type=unit_type,
        period=period,
        at=at or inside(period),
    )
    assert outcome == MeterOutcome.OK


def _tenant(ws, name: str, plan: str) -> dict:
    """A tenant created at the start of LAST: invoices for LAST are refused for a tenant that
    did not exist yet."""
    with time_machine.travel(start_of(LAST), tick=False):
        return billing.create_tenant(ws.store, name, plan=plan)


def _lines(inv: dict) -> list[tuple]:
    return [
        (line.get("scenario"), line.get("unit_type"), line.get("included_units"), line["amount"])
        for line in invoices.public(inv, "x")["lines"]
        if line.get("kind") == "usage"
    ]


def _invoice(ws, tenant: str, period: str = LAST) -> dict:
    [(inv, created)] = invoices.close_period(ws.store, period, tenant=tenant)
    assert created
    return inv


def _fee_after(fee_micros: int, start: datetime) -> int:
    """A monthly fee prorated from `start` to the end of the pinned clock's period."""
    first = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (first + timedelta(days=32)).replace(day=1)
    part = max(0.0, (end - max(start, first)).total_seconds())
    whole = (end - first).total_seconds()
    return fee_micros if part >= whole else int(fee_micros * part / whole + 0.5)


def test_free_tier_and_scoped_prices(ws):
    billing.create_plan(ws.store, "free", price_per_1k="0", quota=1000)
    billing.create_plan(
        ws.store,
        "payg",
        price_per_1k="2.00",
        prices=["reviews:explain=5.00", "*:explain=3.00", "tickets=1.50"],
    )
    _tenant(ws, "hobby", "free")
    _tenant(ws, "acme", "payg")
    _use(ws, "hobby", "reviews", 900)
    assert _invoice(ws, "hobby")["total_micros"] == 0
    _use(ws, "acme", "reviews", 1000)  # default 2.00
    _use(ws, "acme", "reviews", 1000, "explain")  # reviews:explain 5.00
    _use(ws, "acme", "faq", 1000, "explain")  # *:explain 3.00
    _use(ws, "acme", "tickets", 1000, "explain")  # tickets:* 1.50 beats *:explain
    inv = _invoice(ws, "acme")
    by = {(line["scenario"], line["unit_type"]): line for line in inv["lines"]}
    assert by[("reviews", "predict")]["amount_micros"] == 2_000_000
    assert by[("reviews", "explain")]["amount_micros"] == 5_000_000
    assert by[("faq", "explain")]["amount_micros"] == 3_000_000
    assert by[("tickets", "explain")]["amount_micros"] == 1_500_000
    assert inv["subtotal_micros"] == 11_500_000
    with pytest.raises(InvalidInput, match="SCENARIO"):
        billing.create_plan(ws.store, "bad", price_per_1k="1", prices=["reviews:train=1"])


def test_subscription_included_units_go_to_the_dearest_usage_first(ws):
    billing.create_plan(
        ws.store,
        "pro",
        fee="49.00",
        included=1000,
        price_per_1k="1.00",
        prices=["*:explain=4.00"],
    )
    _tenant(ws, "acme", "pro")
    _use(ws, "acme", "reviews", 1200)
    _use(ws, "acme", "reviews", 300, "explain")
    inv = _invoice(ws, "acme")
    assert inv["lines"][0]["kind"] == "subscription"
    assert inv["lines"][0]["amount_micros"] == 49_000_000  # a whole month: no proration
    # 300 explain units (4.00) are covered first, then 700 of the predict units
    assert _lines(inv) == [
        ("reviews", "explain", 300, "0.00"),
        ("reviews", "predict", 700, "0.50"),
    ]
    assert inv["subtotal_micros"] == 49_500_000
    # a budget buys the included units plus what it pays for at the dearest price
    billing.create_plan(
        ws.store,
        "capped",
        included=1000,
        price_per_1k="1",
        budget="2.00",
        prices=["*:explain=4.00"],
    )
    billing.create_tenant(ws.store, "cap", plan="capped")
    key, _ = billing.create_key(ws.store, "cap")
    caller = billing.authenticate(ws.store, f"Bearer {key}")
    assert caller.budget_units == 1000 + 500 and caller.unit_cap == 1500


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # 100 @ 2.00 + 200 @ 1.50 + 50 @ 1.00 = 0.20 + 0.30 + 0.05
        ("graduated", [("Tier 1", 200_000), ("Tier 2", 300_000), ("Tier 3", 50_000)]),
        ("volume", [("Volume price", 350_000)]),  # all 350 at the third tier's 1.00
    ],
)
def test_tiers(ws, mode, expected):
    billing.create_plan(ws.store, "vol", tiers=["100=2.00", "300=1.50", "inf=1.00"], tier_mode=mode)
    _tenant(ws, "acme", "vol")
    _use(ws, "acme", "reviews", 200)
    _use(ws, "acme", "tickets", 150)
    inv = _invoice(ws, "acme")
    tiers = [
        (line["description"].split(":")[0], line["amount_micros"])
        for line in inv["lines"]
        if line["kind"] == "tier"
    ]
    assert tiers == expected
    usage = [line for line in inv["lines"] if line["kind"] == "usage"]
    assert all(line["tiered"] and line["amount_micros"] == 0 for line in usage)
    assert inv["subtotal_micros"] == sum(a for _, a in expected)
    for bad, match in [
        (["100=2", "50=1", "inf=1"], "ascending"),
        (["100=2", "200=1"], "open-ended"),
        (["lots=2", "inf=1"], "UP_TO_UNITS"),
    ]:
        with pytest.raises(InvalidInput, match=match):
            billing.create_plan(ws.store, "bad", tiers=bad)
    with pytest.raises(InvalidInput, match="not both"):
        billing.create_plan(ws.store, "bad", price_per_1k="1", tiers=["inf=1"])


def test_trial_usage_is_not_charged_and_activation_ends_it(ws, clock):
    billing.create_plan(ws.store, "pro", price_per_1k="2.00", fee="30.00", trial_days=14)
    t = billing.create_tenant(ws.store, "acme", plan="pro")
    assert t["status"] == "trial" and t["trial_ends_at"] > datetime.now(UTC)
    period = billing.current_period()
    _use(ws, "acme", "reviews", 500, period=period, at=NOW)
    draft = invoices.draft_invoice(ws.store, "acme")
    # The draft is the invoice the period would get if nothing changes: trial usage is free, and
    # the fee runs from the end of the trial to the end of the period, prorated (0 if the trial
    # outlasts the period).
    assert draft["total_micros"] == _fee_after(30_000_000, t["trial_ends_at"])
    assert draft["lines"][0]["description"].startswith("reviews · predict units · pro v1")
    assert draft["lines"][0]["description"].endswith("trial: not charged")
    clock.shift(0.001)  # a moment later, still in the period (the last second of a year too)
    activated = datetime.now(UTC)
    assert billing.set_tenant_status(ws.store, "acme", "active")["trial_ends_at"] == activated
    _use(ws, "acme", "reviews", 1000, period=period, at=activated)
    draft = invoices.draft_invoice(ws.store, "acme")
    kinds = [(line["kind"], line.get("quantity")) for line in draft["lines"]]
    assert ("trial", 500) in kinds and ("usage", 1000) in kinds
    paid = [line for line in draft["lines"] if "trial" not in line["description"]]
    fee = next(line for line in paid if line["kind"] == "subscription")["amount_micros"]
    assert fee == _fee_after(30_000_000, activated)  # from the activation to the period's end
    assert draft["subtotal_micros"] == fee + 2_000_000
    # the worker turns trials that have run out into active tenants
    billing.create_tenant(ws.store, "late", plan="pro")
    assert ws.store.billing.end_trials() == []
    assert ws.store.billing.end_trials(datetime.now(UTC) + timedelta(days=15)) == ["late"]
    assert ws.store.billing.tenant("late")["status"] == "active"
    # --status trial on a plan without trial days: the default trial
    billing.create_plan(ws.store, "payg", price_per_1k="1")
    assert billing.create_tenant(ws.store, "b", plan="payg", status="trial")["trial_ends_at"]
    with pytest.raises(InvalidInput, match="at least 1"):
        billing.create_tenant(ws.store, "c", plan="payg", trial_days=0)


@pytest.mark.parametrize(
    ("month", "expected", "included"),
    [
        # 31 days: basic 31.00 x 10/31; pro 62.00 x 21/31 and 1000 x 21/31 = 677 included
        ("2026-10", [10_000_000, 2_000_000, 42_000_000, 823_000], 677),
        # a leap February, 29 days: 31.00 x 10/29, 62.00 x 19/29, 1000 x 19/29 = 655 included
        ("2028-02", [10_689_655, 2_000_000, 40_620_690, 845_000], 655),
    ],
)
def test_versions_grandfather_tenants_and_a_change_mid_period_is_prorated(
    ws, clock, month, expected, included
):
    first = datetime.fromisoformat(f"{month}-01T00:00:00+00:00")
    clock.move_to(first)
    billing.create_plan(ws.store, "basic", price_per_1k="2.00", fee="31.00")
    billing.create_plan(ws.store, "pro", price_per_1k="1.00", fee="62.00", included=1000)
    billing.create_tenant(ws.store, "acme", plan="basic")
    acme = ws.store.billing.tenant("acme")
    v2, moved = billing.update_plan(ws.store, "basic", price_per_1k="3.00")
    assert v2["version"] == 2 and moved == [] and v2["fee_micros"] == 31_000_000
    billing.create_tenant(ws.store, "late", plan="basic")
    assert {x["name"]: x["plan_version"] for x in ws.store.billing.tenants()} == {
        "acme": 1,
        "late": 2,
    }
    # basic v1 for 10 days, then pro from the 11th 00:00 to the end of the month
    clock.move_to(first.replace(day=11))
    billing.change_plan(ws.store, "acme", "pro")
    _use(ws, "acme", "reviews", 1000, period=month, at=first.replace(day=5))  # basic v1: 2.00
    _use(ws, "acme", "reviews", 1500, period=month, at=first.replace(day=20))  # pro
    clock.move_to((first + timedelta(days=32)).replace(day=2))
    inv = _invoice(ws, "acme", month)
    amounts = [(line["kind"], line["amount_micros"]) for line in inv["lines"]]
    assert amounts == list(
        zip(["subscription", "usage", "subscription", "usage"], expected, strict=True)
    )
    assert inv["lines"][0]["description"].startswith(
        f"Subscription basic v1 (01 {first:%b}-10 {first:%b})"
    )
    assert inv["lines"][3]["included_units"] == included
    assert inv["note"] == "plan basic v1, then pro v1"
    # --move-tenants moves everyone on older versions, now
    billing.create_tenant(ws.store, "old", plan="basic@1")
    _, moved = billing.update_plan(ws.store, "basic", unset=["fee"], move_tenants=True)
    assert moved == ["late", "old"]
    with pytest.raises(InvalidInput, match="already on"):
        billing.change_plan(ws.store, "old", "basic")
    with pytest.raises(InvalidInput, match="nothing to change"):
        billing.update_plan(ws.store, "basic")
    assert acme["plan_id"] != ws.store.billing.tenant("acme")["plan_id"]


def test_plan_cli_and_admin_api(ws, capsys, monkeypatch):
    monkeypatch.setenv("MODELMINT_DATABASE_URL", ws.settings.database_url)
    home = ["--home", str(ws.settings.home)]

    def cli(*args: str, code: int = 0) -> str:
        rc = main([*home, *args])
        out = capsys.readouterr()
        assert rc == code, f"exit {rc}\nstdout: {out.out}\nstderr: {out.err}"
        return out.out + out.err

    out = json.loads(
        cli(
            "plans",
            "create",
            "pro",
            "--fee",
            "49",
            "--included",
            "100000",
            "--price-per-1k",
            "1.00",
            "--price",
            "*:explain=3",
            "--trial-days",
            "7",
            "--json",
        )
    )
    assert out["fee"] == "49.00" and out["prices"] == {"*:explain": "3.00"}
    assert out["trial_days"] == 7 and out["version"] == 1
    cli(
        "plans", "create", "vol", "--tier", "100000=2", "--tier", "inf=1.5", "--tier-mode", "volume"
    )
    assert "price" in cli("plans", "create", "none", code=2)
    out = json.loads(
        cli("plans", "update", "pro", "--fee", "59", "--unset", "trial_days", "--json")
    )
    assert out["version"] == 2 and out["fee"] == "59.00" and out["trial_days"] == 0
    cli("tenants", "create", "acme", "--plan", "pro@1")
    cli("tenants", "create", "beta", "--plan", "vol")
    shown = json.loads(cli("plans", "show", "pro", "--json"))
    assert [(v["version"], v["tenants"]) for v in shown] == [(1, ["acme"]), (2, [])]
    assert len(json.loads(cli("plans", "list", "--json"))) == 2
    assert len(json.loads(cli("plans", "list", "--all-versions", "--json"))) == 3
    moved = json.loads(cli("tenants", "change-plan", "acme", "--plan", "vol", "--json"))
    assert moved == {"tenant": "acme", "plan": "vol", "version": 1}
    assert "no version 9" in cli("tenants", "change-plan", "acme", "--plan", "pro@9", code=4)

    token = "s" * 32  # the shortest admin token the server accepts
    settings = ws.settings.model_copy(update={"admin_token": SecretStr(token)})
    admin = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, ws.store)) as c:
        r = c.post(
            "/v1/admin/plans/vol/versions",
            json={"tiers": ["10=3", "inf=2"], "move_tenants": True},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        assert r.json()["version"] == 2 and r.json()["tenants_moved"] == ["acme", "beta"]
        r = c.post("/v1/admin/tenants/beta/plan", json={"plan": "pro"}, headers=admin)
        assert r.json() == {"ok": True, "tenant": "beta", "plan": "pro", "version": 2}
        bad = c.post("/v1/admin/plans/vol/versions", json={"tiers": ["5=1"]}, headers=admin)
        assert bad.status_code == 400 and "open-ended" in bad.json()["error"]
        assert (
            c.post("/v1/admin/tenants/beta/plan", json={"plan": "gold"}, headers=admin).status_code
            == 404
        )
        plans = c.get("/v1/admin/plans?all_versions=true", headers=admin).json()["plans"]
        assert {(p["name"], p["version"]) for p in plans} == {
            ("pro", 1),
            ("pro", 2),
            ("vol", 1),
            ("vol", 2),
        }
