"""Every number an operator gives billing has a documented range (docs/api.md, billing.ranges),
and a value outside it is a 400 (exit 2 in the CLI) naming the field and the range, never a 500
or a stored absurdity. Also: an empty key scope is refused (it used to mean "every scenario"),
invoices for months before a tenant existed, non-ISO currencies, webhook targets on the
server's own network (when set and at delivery, after DNS), and webhook secrets stored in clear.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
import time_machine
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.clock import LAST, THIS, inside, start_of
from tests.usage import meter

from modelmint import billing
from modelmint.billing import alerts, invoices, ranges, webhooks
from modelmint.billing.rules import RULES
from modelmint.cli import main
from modelmint.errors import ConfigError, InvalidInput
from modelmint.serve import create_app
from modelmint.settings import SECRET_KEY_FILE
from modelmint.store import new_id
from modelmint.types import MeterItem, MeterOutcome

TOKEN = "admin-token-for-the-range-tests-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
HUGE = 2**63  # one more than a BIGINT holds


@pytest.fixture
def admin(ws):
    """The admin API on a plan `pro` and a tenant `acme` (a customer since LAST began)."""
    billing.create_plan(ws.store, "pro", price_per_1k="2.00")
    with time_machine.travel(start_of(LAST), tick=False):
        billing.create_tenant(ws.store, "acme", plan="pro")
    settings = ws.settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    with TestClient(create_app(settings, ws.store), raise_server_exceptions=False) as c:
        c.headers.update(ADMIN)
        yield c


def _refused(r, *words: str) -> str:
    """A 400 in the one error shape whose message names every word."""
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["ok"] is False and body["status"] == 400
    for word in words:
        assert word in body["error"], (word, body["error"])
    return body["error"]


# 1. numbers that gave 500 -----------------------------------------------------------------------
PLAN_CASES = [
    ({"price_per_1k": "1e30"}, "price_per_1k", "1,000,000,000"),
    ({"price_per_1k": "1", "budget": "1e30"}, "budget", "1,000,000,000"),
    ({"price_per_1k": "1", "fee": "1e30"}, "fee", "1,000,000,000"),
    ({"price_per_1k": "1", "prices": ["reviews=1e30"]}, "--price reviews:*", "1,000,000,000"),
    ({"tiers": ["100=1e30", "inf=1"]}, "--tier price", "1,000,000,000"),
    ({"tiers": [f"{HUGE}=1", "inf=1"]}, "--tier bound", "1,000,000,000,000"),
    ({"price_per_1k": "0.0000001"}, "price_per_1k", "6 decimals"),
    ({"price_per_1k": "NaN"}, "price_per_1k", "out of range"),
    ({"price_per_1k": "1", "quota": HUGE}, "quota", "1,000,000,000,000"),
    ({"price_per_1k": "1", "burst": HUGE}, "burst", "1,000,000"),
    ({"price_per_1k": "1", "included": HUGE}, "included", "1,000,000,000,000"),
    ({"price_per_1k": "1", "concurrency": HUGE}, "concurrency", "100,000"),
    ({"price_per_1k": "1", "concurrency": 0}, "concurrency", "1 to 100,000"),
    ({"price_per_1k": "1", "trial_days": 1_000_000_000}, "trial_days", "0 to 365"),
    ({"price_per_1k": "1", "rate_limit": 1e308}, "rate_limit", "0.001 to 1,000,000"),
    ({"price_per_1k": "1", "tenant_rate_limit": 1e-12}, "tenant_rate_limit", "0.001"),
    ({"price_per_1k": "1", "currency": "$$$"}, "currency", "ISO 4217"),
    ({"price_per_1k": "1", "currency": "XXX"}, "currency", "ISO 4217"),
]


@pytest.mark.parametrize(("fields", "field", "range_text"), PLAN_CASES)
def test_admin_plan_numbers_out_of_range_are_400_naming_the_field(
    admin, ws, fields, field, range_text
):
    _refused(admin.post("/v1/admin/plans", json={"name": "x", **fields}), field, range_text)
    # the same through a new version of an existing plan (currency is the plan's there)
    if "currency" not in fields:
        update = {k: v for k, v in fields.items() if k != "price_per_1k" or len(fields) == 1}
        _refused(admin.post("/v1/admin/plans/pro/versions", json=update), field, range_text)
    assert [p["name"] for p in ws.store.billing.plans()] == ["pro"]  # nothing stored


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_rate_limits_are_refused_not_stored_as_no_limit(admin, ws, value):
    for field in ("rate_limit", "tenant_rate_limit"):
        body = f'{{"name": "x", "price_per_1k": "1", "{field}": {value}}}'
        r = admin.post(
            "/v1/admin/plans", content=body, headers={"Content-Type": "application/json"}
        )
        _refused(r, field, "leave it out for no limit")
        with pytest.raises(InvalidInput, match=field):
            billing.create_plan(ws.store, "y", price_per_1k="1", **{field: float(value)})
    assert len(ws.store.billing.plans()) == 1


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        ("99999999999d", ["out of range", "3650d"]),  # used to overflow timedelta
        ("3000000d", ["out of range", "3650d"]),  # used to pass 9999-12-31
        ("999999999999999999999999d", ["not a duration"]),
    ],
)
def test_key_durations_out_of_range_are_400(admin, duration, words):
    _refused(admin.post("/v1/admin/keys", json={"tenant": "acme", "expires_in": duration}), *words)
    key_id = admin.post("/v1/admin/keys", json={"tenant": "acme"}).json()["id"]
    _refused(admin.post(f"/v1/admin/keys/{key_id}/rotate", json={"overlap": duration}), *words)


def test_keys_that_expire_at_once_are_refused(admin, ws):
    _refused(admin.post("/v1/admin/keys", json={"tenant": "acme", "expires_in": "0s"}), "1m")
    with pytest.raises(InvalidInput, match="expires_in 59s is out of range"):
        billing.create_key(ws.store, "acme", expires_in="59s")
    assert billing.create_key(ws.store, "acme", expires_in="1m")[1]["expires_at"] is not None
    assert billing.create_key(ws.store, "acme", expires_in="3650d")[1]["expires_at"] is not None
    # a rotation may still cut the old key off at once
    _, rec = billing.create_key(ws.store, "acme")
    r = admin.post(f"/v1/admin/keys/{rec['id']}/rotate", json={"overlap": "0s"})
    assert r.status_code == 201, r.text


def test_plan_versions_credit_amounts_trials_and_discounts_out_of_range(admin, ws):
    _refused(
        admin.post("/v1/admin/tenants/acme/plan", json={"plan": f"pro@{HUGE}"}),
        "plan version",
        "2,147,483,647",
    )
    _refused(
        admin.post("/v1/admin/tenants/acme/plan", json={"plan": "pro@" + "9" * 70}),
        "plan version",
    )
    r = admin.post("/v1/admin/tenants", json={"name": "b", "plan": "pro", "trial_days": 10**9})
    _refused(r, "trial_days", "365")
    r = admin.post(
        "/v1/admin/tenants", json={"name": "b", "plan": "pro", "discount_percent": "NaN"}
    )
    _refused(r, "--discount", "0-100")
    r = admin.post("/v1/admin/tenants", json={"name": "b", "plan": "pro", "currency": "$$$"})
    _refused(r, "currency", "ISO 4217")
    # a plan an older version stored with an absurd trial answers 400, not 500, for new tenants
    ws.store.billing.create_plan(
        name="old", version=1, currency="USD", price_per_1k_micros=0, trial_days=1_000_000_000
    )
    _refused(admin.post("/v1/admin/tenants", json={"name": "b", "plan": "old"}), "plans update old")
    assert [t["name"] for t in ws.store.billing.tenants()] == ["acme"]
    # credit notes
    _bill_last(ws, 1000)
    inv = admin.post("/v1/admin/invoices/close", json={"period": LAST}).json()["invoices"][0]
    for amount, words in [("1e30", ["amount", "1,000,000,000"]), ("0", ["more than 0"])]:
        r = admin.post(
            f"/v1/admin/invoices/{inv['number']}/credit", json={"amount": amount, "reason": "x"}
        )
        _refused(r, *words)


def _bill_last(ws, units: int, tenant: str = "acme") -> None:
    rows = [
        dict(id=new_id(), model_version=1, input_text="x", label="p", score=1.0, latency_ms=1.0)
        for _ in range(units)
    ]
    with time_machine.travel(inside(LAST), tick=False):
        assert (
            ws.store.billing.record_request(
                MeterItem(
                    request_id=new_id(),
                    tenant_id=ws.store.billing.tenant(tenant)["id"],
                    key_id="k",
                    scenario="reviews",
                    period=LAST,
                    quota=None,
                    prediction_rows=tuple(rows),
                ),
                RULES,
            )
            == MeterOutcome.OK
        )


def test_the_cli_refuses_the_same_with_exit_2(ws, capsys, monkeypatch):
    monkeypatch.setenv("MODELMINT_DATABASE_URL", ws.settings.database_url)
    billing.create_plan(ws.store, "pro", price_per_1k="1")
    billing.create_tenant(ws.store, "acme", plan="pro")
    home = ["--home", str(ws.settings.home)]
    cases = [
        (["plans", "create", "p", "--price-per-1k", "1e30"], "price_per_1k"),
        (["plans", "create", "p", "--price-per-1k", "1", "--quota", str(HUGE)], "quota"),
        (["plans", "create", "p", "--price-per-1k", "1", "--rate-limit", "nan"], "rate_limit"),
        (["plans", "create", "p", "--price-per-1k", "1", "--rate-limit", "inf"], "rate_limit"),
        (["plans", "create", "p", "--price-per-1k", "1", "--currency", "$$$"], "ISO 4217"),
        (["plans", "update", "pro", "--trial-days", "1000000000"], "trial_days"),
        (["keys", "create", "--tenant", "acme", "--expires-in", "99999999999d"], "expires_in"),
        (["keys", "create", "--tenant", "acme", "--expires-in", "0s"], "expires_in"),
        (["tenants", "change-plan", "acme", "--plan", f"pro@{HUGE}"], "plan version"),
        (["invoices", "close", "--period", "1970-01"], "before"),
        (["invoices", "close", "--period", "0001-01"], "out of range"),
        (
            ["tenants", "create", "b", "--plan", "pro", "--webhook-url", "http://169.254.169.254/"],
            "MODELMINT_WEBHOOK_ALLOW_PRIVATE",
        ),
    ]
    for args, word in cases:
        rc = main([*home, *args])
        err = capsys.readouterr().err
        assert rc == 2, (args, rc, err)
        assert word in " ".join(err.split()), (args, err)
    assert [p["name"] for p in ws.store.billing.plans()] == ["pro"]
    assert ws.store.billing.keys() == [] and len(ws.store.billing.tenants()) == 1


def test_ranges_hold_at_their_bounds():
    assert ranges.money_micros("1000000000", "USD", "fee") == 10**15
    assert ranges.money_micros("0.000001", "USD", "fee") == 1
    assert ranges.money_micros("2.000000000", "USD", "fee") == 2_000_000  # exact, not rounded
    with pytest.raises(InvalidInput, match="out of range"):
        ranges.money_micros("1000000000.000001", "USD", "fee")
    with pytest.raises(InvalidInput, match="more than 0"):
        ranges.money_micros("0", "USD", "budget", positive=True)
    assert ranges.whole_number(10**12, "quota", 0, ranges.MAX_UNITS, "units") == 10**12
    with pytest.raises(InvalidInput, match="whole number"):
        ranges.whole_number(True, "quota", 0, ranges.MAX_UNITS, "units")
    assert ranges.rate(0.001, "rate_limit") == 0.001
    assert ranges.duration("3650d", "x") == timedelta(days=3650)
    assert ranges.duration("0s", "overlap", least=timedelta(0)) == timedelta(0)
    assert ranges.currency_code("eur") == "EUR"
    with pytest.raises(InvalidInput, match="out of range"):
        billing.validate_period("9999-12")  # its end would be year 10000


# 2. an empty scope list ------------------------------------------------------------------------
def test_an_empty_scenario_list_is_refused_not_read_as_all(admin, ws):
    r = admin.post("/v1/admin/keys", json={"tenant": "acme", "scenarios": []})
    _refused(r, "scenarios", "leave it out", "name at least one")
    with pytest.raises(InvalidInput, match="empty list"):
        billing.create_key(ws.store, "acme", scenarios=[])
    assert ws.store.billing.keys() == []
    # left out: every scenario; named: only those
    assert billing.create_key(ws.store, "acme")[1]["scenarios"] is None
    assert billing.create_key(ws.store, "acme", scenarios=["b", "a"])[1]["scenarios"] == ["a", "b"]


# 3. nonsense that was accepted ---------------------------------------------------------------------
def test_invoices_are_refused_for_months_before_the_tenant_existed(admin, ws):
    for period in ("1970-01", "2000-01"):
        _refused(
            admin.post("/v1/admin/invoices/close", json={"period": period}),
            f"period {period} ended before the first tenant (acme) was created",
            f"from {LAST} on",
        )
    _refused(admin.post("/v1/admin/invoices/close", json={"period": "0001-01"}), "1970-01")
    # a tenant that joined this month has nothing to close for last month ...
    billing.create_tenant(ws.store, "late", plan="pro")
    with pytest.raises(InvalidInput, match=f"ended before tenant late was created \\(in {THIS}\\)"):
        invoices.close_period(ws.store, LAST, tenant="late")
    # ... and closing last month for everyone skips it
    done = invoices.close_period(ws.store, LAST)
    assert [t for inv, _ in done for t in [inv["tenant_id"]]] == [
        ws.store.billing.tenant("acme")["id"]
    ]
    assert invoices.draft_invoice(ws.store, "acme", period="1970-01")["total_micros"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/hook",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://192.168.1.5/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://100.64.0.1/",
        "http://2130706433/",  # 127.0.0.1 written as one number
        "http://0x7f.1/",
        "http://localhost:9000/",
        "http://api.localhost/",
    ],
)
def test_webhooks_to_the_servers_own_network_are_refused(ws, admin, url):
    r = admin.post("/v1/admin/tenants", json={"name": "b", "plan": "pro", "webhook_url": url})
    _refused(r, "MODELMINT_WEBHOOK_ALLOW_PRIVATE=true")
    with pytest.raises(InvalidInput, match="points at"):
        billing.create_tenant(ws.store, "b", plan="pro", webhook_url=url, settings=ws.settings)
    allowed = ws.settings.model_copy(update={"webhook_allow_private": True})
    t = billing.create_tenant(ws.store, "b", plan="pro", webhook_url=url, settings=allowed)
    assert t["webhook_url"] == url


class Hook(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict, bytes]]] = []

    def do_POST(self):
        Hook.got.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_port():
    Hook.got = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()


def _dns(monkeypatch, answer: str) -> None:
    """The resolver answers `answer` for every name (no network in tests)."""

    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def _alert(ws, tenant: str) -> None:
    """A pending quota alert for `tenant`, as the metering transaction writes one."""
    outcome = meter(ws, tenant, 9, quota=10, alert_levels=(("quota", 80, 8, 10),))
    assert outcome == MeterOutcome.OK


def test_a_name_that_resolves_to_a_private_address_at_delivery_is_not_contacted(
    ws, monkeypatch, hook_port, clock
):
    billing.create_plan(ws.store, "p", price_per_1k="1", quota=10)
    url = f"http://hooks.acme.example:{hook_port}/hook"  # a name: allowed when set
    t = billing.create_tenant(ws.store, "acme", plan="p", webhook_url=url, settings=ws.settings)
    _alert(ws, "acme")
    _dns(monkeypatch, "169.254.169.254")  # DNS changed since (or was rebound)
    posted = []
    assert alerts.deliver_due(ws.store, settings=ws.settings, post=lambda *a: posted.append(a)) == 0
    [a] = ws.store.alerts.list()
    assert posted == [] and a["status"] == "pending"
    assert "169.254.169.254" in a["last_error"] and "ALLOW_PRIVATE" in a["last_error"]
    # allowed, the delivery goes to the address that was checked, with the name as Host
    _dns(monkeypatch, "127.0.0.1")
    local = ws.settings.model_copy(update={"webhook_allow_private": True})
    clock.shift(31)
    assert alerts.deliver_due(ws.store, settings=local) == 1
    [(headers, body)] = Hook.got
    assert headers["Host"] == f"hooks.acme.example:{hook_port}"
    assert alerts.verify_signature(t["webhook_secret"], headers[alerts.SIGNATURE_HEADER], body)
    assert json.loads(body)["type"] == "quota.80"


# 4. webhook secrets are stored sealed ------------------------------------------------------------
def test_webhook_secrets_are_stored_sealed_and_shown_once(ws, admin):
    r = admin.post(
        "/v1/admin/tenants",
        json={"name": "b", "plan": "pro", "webhook_url": "https://b.example/hooks"},
    )
    assert r.status_code == 201, r.text
    secret = r.json()["webhook_secret"]
    assert secret.startswith("whsec_") and len(secret) == 38
    stored = ws.store.billing.tenant("b")["webhook_secret"]
    assert stored.startswith("v1.") and len(stored) <= 64  # fits the column: no migration
    assert secret not in stored and secret[6:] not in stored
    box = webhooks.SecretBox.from_settings(ws.settings)
    assert box.open("b", stored) == secret
    # the key lives outside the database, readable by its owner only
    key_file = ws.settings.home / SECRET_KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    # a sealed value copied to another tenant's row does not open there
    with pytest.raises(ConfigError, match="another tenant"):
        box.open("acme", stored)
    # another server key says which setting to fix
    other = ws.settings.model_copy(update={"secret_key": SecretStr("k" * 40)})
    with pytest.raises(ConfigError, match="MODELMINT_SECRET_KEY"):
        webhooks.SecretBox.from_settings(other).open("b", stored)
    short = ws.settings.model_copy(update={"secret_key": SecretStr("short")})
    with pytest.raises(ConfigError, match="fewer than 32"):
        webhooks.SecretBox.from_settings(short)
    listed = admin.get("/v1/admin/tenants").json()["tenants"]
    assert all("webhook_secret" not in t for t in listed)


def test_a_secret_stored_in_clear_by_an_older_version_is_sealed_and_keeps_signing(
    ws, monkeypatch, hook_port
):
    local = ws.settings.model_copy(update={"webhook_allow_private": True})
    billing.create_plan(ws.store, "p", price_per_1k="1", quota=10)
    url = f"http://127.0.0.1:{hook_port}/hook"
    billing.create_tenant(ws.store, "acme", plan="p", webhook_url=url, settings=local)
    tid = ws.store.billing.tenant("acme")["id"]
    clear = "whsec_" + "A" * 32  # what an older version stored
    sealed = ws.store.billing.tenant("acme")["webhook_secret"]
    assert ws.store.billing.replace_webhook_secret(tid, sealed, clear) == 1
    _alert(ws, "acme")
    assert alerts.deliver_due(ws.store, settings=local) == 1
    stored = ws.store.billing.tenant("acme")["webhook_secret"]
    assert stored.startswith("v1.") and clear not in stored
    [(headers, body)] = Hook.got  # the receiver's secret still verifies
    assert alerts.verify_signature(clear, headers[alerts.SIGNATURE_HEADER], body)
    assert webhooks.seal_clear_secrets(ws.store, local) == 0  # idempotent


def test_a_tenant_without_a_webhook_has_no_secret_and_the_server_key_is_private(ws):
    assert not (ws.settings.home / SECRET_KEY_FILE).exists()  # nothing made on open
    billing.create_plan(ws.store, "p", price_per_1k="1")
    assert billing.create_tenant(ws.store, "a", plan="p")["webhook_secret"] is None
    # the first audited action made the server key (the audit log is chained under it)
    key_file = ws.settings.home / SECRET_KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert ws.store.audit.verify().entries == 2
    assert datetime.now(UTC).year >= 2026  # the pinned clock
