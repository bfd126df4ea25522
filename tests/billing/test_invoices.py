"""Invoices: close a period (lines per scenario and unit type, discount, tax, totals), closing
twice issues nothing new, credit notes never exceed the invoice, JSON/CSV/HTML/export, and the
tenant API sees only its own; SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest
import time_machine
from fastapi.testclient import TestClient
from tests.clock import LAST, THIS, inside, start_of
from tests.usage import meter
from typer.testing import CliRunner

from modelmint import billing
from modelmint.billing import invoices
from modelmint.cli import app as cli_app
from modelmint.errors import Conflict, InvalidInput
from modelmint.serve import create_app
from modelmint.types import MeterOutcome


def _use(ws, tenant: str, scenario: str, units: int, unit_type: str = "predict", period=LAST):
    outcome = meter(
        ws, tenant, units, scenario=scenario, unit_type=unit_type, period=period, at=inside(period)
    )
    assert outcome == MeterOutcome.OK


@pytest.fixture
def billed(ws):
    billing.create_plan(ws.store, "starter", price_per_1k="2.00")
    with time_machine.travel(start_of(LAST), tick=False):  # customers since LAST began
        billing.create_tenant(
            ws.store, "acme", plan="starter", discount_percent="10", contact_email="ap@acme.example"
        )
        billing.create_tenant(ws.store, "quiet", plan="starter")
    _use(ws, "acme", "reviews", 1500)
    _use(ws, "acme", "reviews", 250, unit_type="explain")
    _use(ws, "acme", "tickets", 333)
    _use(ws, "acme", "reviews", 7, period=THIS)  # this month: not on last month's invoice
    return ws


def test_close_issues_one_immutable_invoice_per_tenant(billed):
    ws = billed
    with pytest.raises(InvalidInput, match="has not ended"):
        invoices.close_period(ws.store, billing.current_period())
    done = invoices.close_period(ws.store, LAST, tax_rate="20")
    assert [created for _, created in done] == [True, True]
    acme = next(inv for inv, _ in done if inv["tenant_id"] == ws.store.billing.tenant("acme")["id"])
    p = invoices.public(acme, "acme")
    lines = {(line["scenario"], line["unit_type"]): line for line in p["lines"]}
    assert lines[("reviews", "predict")]["quantity"] == 1500
    assert lines[("reviews", "predict")]["amount"] == "3.00"  # 1500 x 2.00 / 1000
    assert lines[("reviews", "explain")]["amount"] == "0.50"
    assert lines[("tickets", "predict")]["amount"] == "0.666"
    # subtotal 4.166; 10% discount 0.4166 -> 0.4166 (micros, half up); tax 20% of 3.7494
    assert acme["subtotal_micros"] == 4_166_000
    assert acme["discount_micros"] == 416_600
    assert acme["tax_micros"] == 749_880
    assert acme["total_micros"] == 4_166_000 - 416_600 + 749_880
    quiet = next(inv for inv, _ in done if inv is not acme)
    assert quiet["lines"] == [] and quiet["total_micros"] == 0
    # closing again issues nothing new and returns the same numbers
    again = invoices.close_period(ws.store, LAST, tax_rate="5")
    assert [c for _, c in again] == [False, False]
    assert {i["number"] for i, _ in again} == {i["number"] for i, _ in done}
    assert ws.store.invoices.get(acme["number"])["tax_rate_bp"] == 2000  # unchanged


def test_credit_notes_never_exceed_the_invoice(billed):
    ws = billed
    inv = next(i for i, _ in invoices.close_period(ws.store, LAST, tenant="acme", tax_rate="20"))
    cn = invoices.credit_note(ws.store, inv["number"], amount="1.20", reason="outage on 10-12")
    assert cn["kind"] == "credit_note" and cn["refers_to"] == inv["number"]
    assert cn["total_micros"] == -1_200_000 and cn["tax_micros"] == -200_000  # 20% inside
    left = inv["total_micros"] - 1_200_000
    with pytest.raises(Conflict, match="left to credit"):
        invoices.credit_note(
            ws.store, inv["number"], amount=f"{(left + 10_000) / 1e6:.6f}", reason="x"
        )
    with pytest.raises(InvalidInput, match="is a credit note"):
        invoices.credit_note(ws.store, cn["number"], amount="1", reason="x")
    with pytest.raises(InvalidInput, match="reason"):
        invoices.credit_note(ws.store, inv["number"], amount="1", reason=" ")
    assert ws.store.invoices.get(inv["number"])["total_micros"] == inv["total_micros"]


def test_cli_outputs_json_csv_html_and_export(billed, tmp_path):
    ws = billed
    env = {
        "MODELMINT_HOME": str(ws.settings.home),
        "MODELMINT_DATABASE_URL": ws.settings.sqlalchemy_url,
        "MODELMINT_TAX_RATE_PERCENT": "20",
    }
    run = CliRunner().invoke
    r = run(cli_app, ["invoices", "close", "--period", LAST, "--json"], env=env)
    assert r.exit_code == 0, r.output
    closed = json.loads(r.output)
    number = next(i["number"] for i in closed if i["tenant"] == "acme")
    assert all(i["created"] for i in closed)
    shown = json.loads(run(cli_app, ["invoices", "show", number, "--json"], env=env).output)
    assert shown["total"] == "4.49928" and shown["tax_rate_percent"] == "20"
    rows = list(
        csv.DictReader(
            io.StringIO(run(cli_app, ["invoices", "show", number, "--csv"], env=env).output)
        )
    )
    assert tuple(rows[0]) == invoices.EXPORT_FIELDS and len(rows) == 3
    page = tmp_path / "inv.html"
    assert run(cli_app, ["invoices", "show", number, "--html", str(page)], env=env).exit_code == 0
    text = page.read_text()
    assert number in text and "4.49928" in text and "ap@acme.example" in text
    listed = json.loads(
        run(cli_app, ["invoices", "list", "--tenant", "acme", "--json"], env=env).output
    )
    assert [i["number"] for i in listed] == [number]
    r = run(
        cli_app,
        ["invoices", "credit", number, "--amount", "1", "--reason", "goodwill", "--json"],
        env=env,
    )
    assert r.exit_code == 0 and json.loads(r.output)["total"] == "-1.00"
    lines = run(
        cli_app, ["invoices", "export", "--period", LAST, "--format", "jsonl"], env=env
    ).output
    exported = [json.loads(x) for x in lines.splitlines()]
    assert {e["kind"] for e in exported} == {"invoice", "credit_note"}
    assert all(set(e) == set(invoices.EXPORT_FIELDS) for e in exported)
    preview = json.loads(
        run(cli_app, ["invoices", "preview", "--tenant", "acme", "--json"], env=env).output
    )
    assert preview["number"] == "DRAFT" and preview["lines"][0]["quantity"] == 7


def test_tenants_see_only_their_own_invoices(billed, tiny_trained):
    ws = billed
    done = invoices.close_period(ws.store, LAST)
    by_tenant = {
        t["name"]: next(i["number"] for i, _ in done if i["tenant_id"] == t["id"])
        for t in ws.store.billing.tenants()
    }
    key, _ = billing.create_key(ws.store, "quiet")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        mine = c.get("/v1/invoices").json()["invoices"]
        assert [i["number"] for i in mine] == [by_tenant["quiet"]]
        assert c.get(f"/v1/invoices/{by_tenant['quiet']}").status_code == 200
        assert c.get(f"/v1/invoices/{by_tenant['acme']}").status_code == 404
        assert c.get("/v1/invoices", params={"period": "2026-13"}).status_code == 400
