"""The same insights through the CLI (table, --json, --html with charts), the admin API and
exchange rates through both; bad input is one line naming the fix, with nothing written."""

from __future__ import annotations

import json
import re

import pytest
import time_machine
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.clock import LAST, start_of
from tests.usage import meter

from modelmint import billing
from modelmint.billing import invoices
from modelmint.serve import create_app

TOKEN = "admin-secret-of-at-least-32-characters"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def books(ws):
    billing.create_plan(ws.store, "payg", price_per_1k="2.00", trial_days=0)
    billing.create_plan(ws.store, "cny", price_per_1k="10.00", currency="CNY")
    with time_machine.travel(start_of(LAST), tick=False):
        billing.create_tenant(ws.store, "acme", plan="payg")
        billing.create_tenant(ws.store, "bei", plan="cny")
    meter(ws, "acme", 1000, period=LAST, at=start_of(LAST).replace(day=3))
    meter(ws, "bei", 500, period=LAST, at=start_of(LAST).replace(day=4))
    invoices.close_period(ws.store, LAST)
    return ws


def test_cli_reports_json_html_and_fx(books, mm, tmp_path):
    out = mm("insights", "revenue", "--period", LAST, "--json").out
    rep = json.loads(out)
    assert {(r["scenario"], r["currency"], r["revenue"]) for r in rep["rows"]} == {
        ("reviews", "USD", "2.00"),
        ("reviews", "CNY", "5.00"),
    }
    table = mm("insights", "revenue", "--period", LAST, "--by", "tenant").out
    assert "acme" in table and "bei" in table and "2.00" in table
    page = tmp_path / "margin.html"
    mm("insights", "margin", "--period", LAST, "--html", str(page))
    text = page.read_text()
    assert text.count("<svg") >= 2 and "Revenue and margin over time" in text
    assert not re.search(r"""(src|href)=["']?https?://""", text)  # nothing fetched
    funnel = tmp_path / "funnel.html"
    mm("insights", "funnel", "--html", str(funnel), "--active-calls", "1")
    assert "Funnel by plan" in funnel.read_text()
    err = mm("insights", "revenue", "--period", LAST, "--currency", "USD", code=2).err
    assert "no CNY->USD exchange rate" in err and "modelmint fx set CNY USD" in err
    mm("fx", "set", "usd", "cny", "8", "--date", f"{LAST}-01")
    rates = json.loads(mm("fx", "list", "--json").out)
    assert rates == [{"base": "USD", "quote": "CNY", "rate": "8", "date": f"{LAST}-01"}]
    rep = json.loads(mm("insights", "revenue", "--period", LAST, "--currency", "USD", "--json").out)
    assert [r["revenue"] for r in rep["rows"]] == ["2.625"] and rep["converted"]
    assert "not one of scenario" in mm("insights", "costs", "--by", "colour", code=2).err
    assert "in the future" in mm("insights", "margin", "--period", "2999-01", code=2).err
    assert "out of range" in mm("fx", "set", "USD", "EUR", "0", "--date", "2026-01-01", code=2).err
    assert json.loads(mm("fx", "list", "--json").out) == rates  # nothing half-written


def test_admin_api_serves_the_same_numbers(books, settings):
    s = settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    with TestClient(create_app(s, books.store)) as c:
        assert c.get("/v1/admin/insights/revenue").status_code == 401
        r = c.get(
            "/v1/admin/insights/revenue", params={"period": LAST, "by": "tenant"}, headers=ADMIN
        )
        assert r.status_code == 200, r.text
        assert {x["tenant"]: x["revenue"] for x in r.json()["rows"]} == {
            "acme": "2.00",
            "bei": "5.00",
        }
        for kind in ("costs", "margin", "experiments", "funnel"):
            r = c.get(f"/v1/admin/insights/{kind}", headers=ADMIN)
            assert r.status_code == 200, (kind, r.text)
        bad = c.get("/v1/admin/insights/margin", params={"period": "2999-01"}, headers=ADMIN)
        assert bad.status_code == 400 and "in the future" in bad.json()["error"]
        bad = c.get("/v1/admin/insights/costs", params={"by": "colour"}, headers=ADMIN)
        assert bad.status_code == 422 and "by" in json.dumps(bad.json()["errors"])
        r = c.put(
            "/v1/admin/fx",
            json={"base": "CNY", "quote": "USD", "rate": "0.125", "date": f"{LAST}-01"},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        bad = c.put(
            "/v1/admin/fx",
            json={"base": "CNY", "quote": "ZZZ", "rate": "1", "date": f"{LAST}-01"},
            headers=ADMIN,
        )
        assert bad.status_code == 400 and "ISO 4217" in bad.json()["error"]
        r = c.get(
            "/v1/admin/insights/margin", params={"period": LAST, "currency": "USD"}, headers=ADMIN
        )
        assert [x["revenue"] for x in r.json()["rows"]] == ["2.625"]
        assert c.get("/v1/admin/fx", headers=ADMIN).json()["rates"][0]["rate"] == "0.125"
