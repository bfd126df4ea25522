"""The predict path's steps, tested without a server: each step is a method of `Gateway` that
takes the `Call` and returns a typed value (issue 12 §4)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

import pytest

from modelmint import billing
from modelmint.errors import Forbidden, InvalidInput, PayloadTooLarge
from modelmint.serve import create_app
from modelmint.serve.gateway import Call, Gateway, check_strings, prediction_out
from modelmint.serve.schemas import PredictRequest
from modelmint.types import MeterOutcome, Prediction


@pytest.fixture
def gateway(ws):
    billing.create_plan(ws.store, "p", price_per_1k="1", quota=1000)
    billing.create_tenant(ws.store, "acme", plan="p")
    key, _ = billing.create_key(ws.store, "acme", scenarios=["reviews"])
    app = create_app(ws.settings, ws.store)
    gw: Gateway = app.state.gateway
    gw.test_key = f"Bearer {key}"  # type: ignore[attr-defined]
    return gw


def _call(gw, inputs, scenario="reviews"):
    auth = gw.test_key
    return Call(
        scenario=scenario,
        body=PredictRequest(inputs=inputs),
        request_id="r1",
        authorization=auth,
        started=0.0,
        who=asyncio.run(gw.authenticate(auth)),
    )


def test_validate_checks_count_characters_and_scopes(gateway, ws):
    gateway.validate(_call(gateway, ["好"]))
    with pytest.raises(PayloadTooLarge, match="the limit is 256"):
        gateway.validate(_call(gateway, ["好"] * 257))
    with pytest.raises(InvalidInput, match=r"U\+0007"):
        gateway.validate(_call(gateway, ["bell\x07"]))
    with pytest.raises(Forbidden, match="limited to the scenarios reviews"):
        gateway.validate(_call(gateway, ["好"], scenario="tickets"))


def test_check_strings_and_prediction_out_are_plain_functions():
    with pytest.raises(PayloadTooLarge, match="3 characters; the limit is 2"):
        check_strings("abc", 0, 2)
    p = Prediction(label="151.235", score=1.0, scores={}, value=151.2345)
    assert prediction_out("id", p, None, "tabular-regression", False) == {
        "id": "id",
        "label": "151.235",
        "value": 151.2345,
    }
    c = Prediction(label="pos", score=0.9, scores={"pos": 0.9, "neg": 0.1})
    out = prediction_out("id", c, None, "text-classification", True)
    assert out["score"] == 0.9 and out["scores"]["neg"] == 0.1 and out["truncated"] is True


class _Writer:
    """A metering writer that answers from a script: the gateway's retry logic alone."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.items = []

    def submit(self, item):
        self.items.append(item)
        f: Future = Future()
        f.set_result(self.answers.pop(0))
        return f


def test_meter_reads_a_changed_key_again_and_meters_under_its_current_plan(gateway, ws):
    call = _call(gateway, ["好"])
    call.period = billing.current_period()
    billing.create_plan(ws.store, "big", price_per_1k="1", quota=5000)
    billing.change_plan(ws.store, "acme", "big")  # the cached caller still holds plan p
    gateway.meter_writer = _Writer([MeterOutcome.STALE, MeterOutcome.OK])
    outcome = asyncio.run(gateway.meter(call, ({"id": "x"},), {"predictions": []}))
    assert outcome is MeterOutcome.OK
    first, second = gateway.meter_writer.items
    assert first.quota == 1000 and second.quota == 5000  # metered under the new plan
    assert call.caller.plan == "big"


def test_meter_gives_up_on_a_key_that_keeps_changing(gateway):
    call = _call(gateway, ["好"])
    gateway.meter_writer = _Writer([MeterOutcome.STALE] * 3)
    with pytest.raises(Exception, match="kept changing"):
        asyncio.run(gateway.meter(call, ({"id": "x"},), {"predictions": []}))
