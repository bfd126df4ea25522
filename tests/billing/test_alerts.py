"""Alerts at 80% and 100% of a quota or budget: raised exactly once in the metering
transaction (also under concurrent calls), delivered as signed webhooks with retries."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient

from modelmint import billing
from modelmint.billing import alerts
from modelmint.errors import InvalidInput
from modelmint.serve import create_app

URL = "/v1/scenarios/reviews/predict"


class Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict, bytes]]] = []
    fail_first = True

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Receiver.fail_first:
            Receiver.fail_first = False
            self.send_response(500)
        else:
            Receiver.got.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.got, Receiver.fail_first = [], True
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_alerts_fire_once_and_are_delivered_signed_with_retries(ws, tiny_trained, receiver):
    # the receiver listens on 127.0.0.1: a private target, allowed by the setting
    local = ws.settings.model_copy(update={"webhook_allow_private": True})
    billing.create_plan(ws.store, "ten", price_per_1k="1.00", quota=10)
    t = billing.create_tenant(ws.store, "acme", plan="ten", webhook_url=receiver, settings=local)
    assert t["webhook_secret"].startswith("whsec_")
    key, _ = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        for _ in range(7):
            assert c.post(URL, json={"inputs": ["好"]}).status_code == 200
        assert ws.store.alerts.list() == []
        assert c.post(URL, json={"inputs": ["好", "好"]}).status_code == 200  # 7 -> 9 crosses 8
        assert c.post(URL, json={"inputs": ["好"]}).status_code == 200  # 10: 100%
        assert c.post(URL, json={"inputs": ["好"]}).status_code == 429  # refused: no new alert
    raised = ws.store.alerts.list()
    assert [(a["kind"], a["threshold"], a["used_units"]) for a in raised] == [
        ("quota", 80, 9),
        ("quota", 100, 10),
    ]
    now = datetime.now(UTC)
    assert alerts.deliver_due(ws.store, settings=local, now=now) == 1  # the first POST got a 500
    first = next(a for a in ws.store.alerts.list() if a["threshold"] == 80)
    assert first["status"] == "pending" and first["attempts"] == 1 and "500" in first["last_error"]
    assert alerts.deliver_due(ws.store, settings=local, now=now) == 0  # not due before backoff
    assert alerts.deliver_due(ws.store, settings=local, now=now + timedelta(seconds=31)) == 1
    assert {a["status"] for a in ws.store.alerts.list()} == {"delivered"}
    assert len(Receiver.got) == 2
    for headers, body in Receiver.got:
        sig = headers[alerts.SIGNATURE_HEADER]
        assert alerts.verify_signature(t["webhook_secret"], sig, body)
        assert not alerts.verify_signature("whsec_wrong", sig, body)
        assert not alerts.verify_signature(t["webhook_secret"], sig, body + b" ")
    assert {json.loads(b)["type"] for _, b in Receiver.got} == {"quota.80", "quota.100"}


def test_concurrent_calls_raise_each_alert_exactly_once(ws, tiny_trained):
    billing.create_plan(ws.store, "p", price_per_1k="1.00", quota=20, budget="0.015")
    billing.create_tenant(ws.store, "acme", plan="p")
    key, _ = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        barrier = threading.Barrier(8)

        def client():
            barrier.wait()
            for _ in range(3):
                c.post(URL, json={"inputs": ["好"]})

        threads = [threading.Thread(target=client) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
    got = sorted((a["kind"], a["threshold"]) for a in ws.store.alerts.list())
    # the budget buys 15 units, the binding cap: 80% at 12, 100% at 15; the quota's 80% (16) is
    # never reached because calls stop at 15
    assert got == [("budget", 80), ("budget", 100)]
    assert billing.usage_summary(ws.store, tenant="acme")[0]["total_units"] == 15
    assert alerts.deliver_due(ws.store, settings=ws.settings) == 0  # no webhook: not sent
    assert {a["status"] for a in ws.store.alerts.list()} == {"no_webhook"}


def test_bad_webhook_url_is_refused(ws):
    billing.create_plan(ws.store, "p", price_per_1k="1.00")
    with pytest.raises(InvalidInput, match="not an http"):
        billing.create_tenant(ws.store, "a", plan="p", webhook_url="ftp://x", settings=ws.settings)
