"""Monitoring end to end on the real stack: a model trained through the real path (tiny
encoder), its reference profile, traffic through the real HTTP API, the worker's evaluation
raising an alert once on planted drift and clearing it on recovery, the signed webhook, the
admin API, the CLI, sampling and retention (SQLite and, in CI, PostgreSQL)."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.reviews import clear_reviews

from modelmint import billing, monitor
from modelmint.billing.alerts import SIGNATURE_HEADER, verify_signature
from modelmint.cli import main
from modelmint.monitor import Reference
from modelmint.pipeline import deliver_alerts, evaluate_scenarios, monitor_report, purge_log
from modelmint.serve import create_app
from modelmint.store import utcnow

URL = "/v1/scenarios/reviews/predict"
ADMIN = "a" * 40
SECRET = "s" * 40
WINDOW = 60


@pytest.fixture(scope="module")
def unseen_reviews():
    """Reviews drawn as the training ones were (`tests/reviews.py`, the filter behind
    `clear_review_rows`) but not trained on: traffic with no drift."""
    per_label = [texts[60:] for texts in clear_reviews().values()]
    out = [t for pair in zip(*per_label, strict=False) for t in pair]
    assert len(out) >= 2 * WINDOW
    return out


ENGLISH = [
    f"{a} {b} {c}"
    for a in ("the plot", "this phone", "the service", "my order", "the hotel", "delivery")
    for b in ("was", "felt", "seemed", "is")
    for c in ("great", "awful", "slow", "fine", "broken")
]


@pytest.fixture
def loop(ws, tiny_trained):
    ws.settings.monitor_min_predictions = 30
    ws.settings.monitor_window = str(WINDOW)
    ws.settings.admin_token = SecretStr(ADMIN)
    billing.create_plan(ws.store, "starter", price_per_1k="1.00", quota=100_000)
    billing.create_tenant(ws.store, "acme", plan="starter")
    key, _ = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


def tid(ws) -> int:
    return ws.store.billing.tenant("acme")["id"]


def send(client, texts):
    ids = []
    for start in range(0, len(texts), 20):
        r = client.post(URL, json={"inputs": texts[start : start + 20]})
        assert r.status_code == 200, r.text
        ids += [p["id"] for p in r.json()["predictions"]]
    return ids


def test_training_profiles_the_reference(tiny_trained):
    ref = Reference.load(Path(tiny_trained.model.path))
    assert ref is not None and ref.payload == "embedding"
    assert ref.n == 120 and ref.embedding.sample.shape == (
        60,
        33,
    )  # the half the components were not fitted on
    assert set(ref.columns) == {"length", "unknown_tokens", "script"}
    assert ref.columns["unknown_tokens"].n == 36  # the held-out rows (validation and test)
    assert set(ref.outputs) == {"predicted", "confidence"}
    assert ref.columns["script"].counts == {"han": 120}


def test_drift_raises_one_alert_and_recovery_clears_it(loop, ws, unseen_reviews):
    send(loop, unseen_reviews[:WINDOW])
    calm = monitor_report(ws.store, ws.settings, "reviews", monitor.parse_window(str(WINDOW)))
    assert calm["window"]["of_version"] == WINDOW
    assert calm["signals"]["input_drift"]["state"] == "ok", calm["inputs"]
    assert calm["inputs"]["columns"]["script"]["drifted"] is False
    assert evaluate_scenarios(ws) == []

    send(loop, ENGLISH[:WINDOW])
    drifted = monitor_report(ws.store, ws.settings, "reviews", monitor.parse_window(str(WINDOW)))
    assert drifted["signals"]["input_drift"]["state"] == "alert"
    assert drifted["inputs"]["embedding"]["statistic"] > 0.9
    assert drifted["inputs"]["columns"]["script"]["drifted"] is True
    raised = evaluate_scenarios(ws)
    assert ("input_drift", "raise") in {(c["signal"], c["action"]) for c in raised}
    assert evaluate_scenarios(ws) == []  # once per crossing, not once per evaluation
    alerts = ws.store.monitoring.alerts("reviews")
    drift_alert = next(a for a in alerts if a["signal"] == "input_drift")
    assert drift_alert["state"] == "raised" and drift_alert["delivery"] == "no_webhook"

    send(loop, unseen_reviews[WINDOW : 2 * WINDOW])
    cleared = evaluate_scenarios(ws)
    assert ("input_drift", "clear") in {(c["signal"], c["action"]) for c in cleared}
    again = ws.store.monitoring.alerts("reviews")
    assert next(a for a in again if a["id"] == drift_alert["id"])["state"] == "cleared"


def test_alert_webhook_is_signed_and_retried(loop, ws):
    ws.settings.monitor_webhook_url = "https://hooks.example.com/modelmint"
    ws.settings.monitor_webhook_secret = SecretStr(SECRET)
    ws.settings.webhook_allow_private = True
    send(loop, ENGLISH[:WINDOW])
    evaluate_scenarios(ws)
    calls = []

    def down(url, body, headers):
        calls.append(body)
        return 503

    def up(url, body, headers):
        calls.append(body)
        assert verify_signature(SECRET, headers[SIGNATURE_HEADER], body)
        return 204

    # the name is not resolved by the `post` stand-in's caller: give it a literal address
    ws.settings.monitor_webhook_url = "https://127.0.0.1/modelmint"
    assert deliver_alerts(ws, post=down) == 0
    due = ws.store.monitoring.alerts("reviews")
    assert all(a["delivery"] == "pending" and a["attempts"] == 1 for a in due)
    assert deliver_alerts(ws, post=up) == 0  # not due yet: backoff
    later = utcnow() + timedelta(minutes=5)
    assert deliver_alerts(ws, now=later, post=up) == len(due)
    body = json.loads(calls[-1])
    assert body["type"].startswith("monitor.") and body["scenario"] == "reviews"
    assert body["details"]["signal"]["state"] == "alert"


def test_admin_monitor_route(loop, ws, unseen_reviews):
    send(loop, unseen_reviews[:40])
    admin = {"Authorization": f"Bearer {ADMIN}"}
    r = loop.get("/v1/admin/scenarios/reviews/monitor?window=40", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1 and body["window"]["of_version"] == 40
    assert set(body["signals"]) >= {"input_drift", "output_drift", "confidence"}
    assert len(body["series"]) == 12
    assert loop.get("/v1/admin/scenarios/reviews/monitor", headers=admin).status_code == 200
    for bad, status in (
        ("/v1/admin/scenarios/nope/monitor", 404),
        ("/v1/admin/scenarios/reviews/monitor?window=1w", 400),
        ("/v1/admin/scenarios/reviews/monitor?window=5", 400),
        ("/v1/admin/scenarios/reviews/monitor?since=2999-01-01T00:00:00", 400),
        ("/v1/admin/scenarios/reviews/monitor?since=yesterday", 422),
    ):
        r = loop.get(bad, headers=admin)
        assert r.status_code == status, (bad, r.text)
        assert r.json()["ok"] is False
    assert loop.get("/v1/admin/scenarios/reviews/monitor").status_code == 401
    r = loop.get("/v1/admin/monitor/alerts", headers=admin)
    assert r.status_code == 200 and r.json() == {"alerts": []}


def test_quality_and_business_from_feedback_and_outcomes(loop, ws, unseen_reviews):
    texts = unseen_reviews[:40]
    ids = send(loop, texts)
    logged = {p: ws.store.feedback.prediction(p, tid(ws))["label"] for p in ids}
    for i, pid in enumerate(ids):
        # the right answer for 30 of 40 (simulated: the test decides), an outcome on 10
        truth = logged[pid] if i < 30 else ("neg" if logged[pid] == "pos" else "pos")
        assert (
            loop.post("/v1/feedback", json={"prediction_id": pid, "label": truth}).status_code
            == 201
        )
        if i % 4 == 0:
            r = loop.post(
                "/v1/outcomes", json={"prediction_id": pid, "event": "converted", "value": 2.5}
            )
            assert r.status_code == 201
    report = monitor_report(ws.store, ws.settings, "reviews", monitor.parse_window("40"))
    q = report["quality"]
    assert q["labelled"] == 40 and q["accuracy"] == 0.75
    assert q["interval"][0] < 0.75 < q["interval"][1] and "test_accuracy" in q
    b = report["business"]["converted"]["1"]
    assert b == {
        "calls": 40,
        "with_event": 10,
        "rate": 0.25,
        "interval": b["interval"],
        "value_per_call": 0.625,
    }
    assert report["signals"]["quality"]["n"] == 40


def test_sampling_keeps_metering_exact_and_retention_keeps_labelled(loop, ws, unseen_reviews):
    ws.settings.log_sample_rate = 0.0
    ids = send(loop, unseen_reviews[:20])
    rows = [ws.store.feedback.prediction(p, tid(ws)) for p in ids]
    assert all(r["input_text"] == "" and r["drift"] is None for r in rows)
    assert all(r["label"] in ("pos", "neg") and r["score"] > 0 for r in rows)
    usage = ws.store.billing.units_used(tid(ws), billing.current_period())
    assert usage == 20
    ws.settings.log_sample_rate = 1.0
    kept = send(loop, unseen_reviews[20:30])
    assert all(ws.store.feedback.prediction(p, tid(ws))["drift"] for p in kept)
    loop.post("/v1/feedback", json={"prediction_id": kept[0], "label": "pos"})
    assert purge_log(ws) == 0  # nothing is past retention yet
    gone = purge_log(ws, now=utcnow() + timedelta(days=ws.settings.log_retention_days + 1))
    assert gone == 29
    assert ws.store.feedback.counts("reviews")["predictions"] == 1  # the labelled one stays
    assert ws.store.billing.units_used(tid(ws), billing.current_period()) == 30


def test_cli_monitor_json_html_and_alerts(loop, ws, tmp_path, capsys, monkeypatch):
    send(loop, ENGLISH[:WINDOW])
    evaluate_scenarios(ws)
    monkeypatch.setenv("MODELMINT_DATABASE_URL", ws.settings.database_url or "")
    monkeypatch.setenv("MODELMINT_MONITOR_MIN_PREDICTIONS", "30")

    def mm(*args: str, code: int = 0) -> str:
        rc = main(["--home", str(ws.settings.home), *args])
        out = capsys.readouterr()
        assert rc == code, out
        return out.out if "--json" in args else out.out + out.err  # logs go to stderr

    out = mm("monitor", "reviews", "--window", str(WINDOW), "--json")
    assert json.loads(out)["signals"]["input_drift"]["state"] == "alert"
    page = tmp_path / "monitor.html"
    out = mm("monitor", "reviews", "--window", str(WINDOW), "--html", str(page))
    assert "input_drift" in out and "alert" in out
    text = page.read_text()
    assert text.count("<svg") >= 3 and "<script" not in text and "src=" not in text
    alerts = json.loads(mm("alerts", "list", "--monitoring", "--json"))
    assert {a["signal"] for a in alerts} >= {"input_drift"}
    assert "input_drift" in mm("alerts", "list", "--monitoring")
    assert "window" in mm("monitor", "reviews", "--window", "1w", code=2)
    assert "unknown scenario" in mm("monitor", "nope", code=4)
    assert "--since" in mm("monitor", "reviews", "--since", "soon", code=2)


def test_tabular_features_drift_per_column(ws, tmp_path):
    """LightGBM on sklearn's breast-cancer table: the features a served row carries are logged
    (float32 each) and the columns shifted in the traffic, and only those, are found."""
    from sklearn.datasets import load_breast_cancer

    from modelmint import data, registry
    from modelmint.pipeline import train_and_register

    frame = load_breast_cancer(as_frame=True).frame
    frame["size_band"] = np.where(frame["mean radius"] > 15, "large", "small")
    path = tmp_path / "bc.csv"
    frame.to_csv(path, index=False)
    data.add_dataset(
        ws.store, ws.settings.datasets_dir, "cancer", path, label="target", features=["all"]
    )
    out = train_and_register(ws, "cancer")
    registry.promote(ws.store, out.model.ref)
    ref = Reference.load(Path(out.model.path))
    assert ref.payload == "tabular" and len(ref.features) == 31 and ref.n == 569
    assert ref.columns["size_band"].kind == "categorical"
    rows = [e.features for e in data.read_examples(out.dataset.path)]
    random.Random(0).shuffle(rows)  # the table is sorted by diagnosis: traffic is not
    shifted = ("mean radius", "worst area", "mean texture")
    billing.create_plan(ws.store, "starter", price_per_1k="1.00", quota=100_000)
    billing.create_tenant(ws.store, "acme", plan="starter")
    key, _ = billing.create_key(ws.store, "acme")
    ws.settings.monitor_min_predictions = 30
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        for start in range(0, 100, 25):
            r = c.post("/v1/scenarios/cancer/predict", json={"inputs": rows[start : start + 25]})
            assert r.status_code == 200, r.text
        calm = monitor_report(ws.store, ws.settings, "cancer", monitor.parse_window("100"))
        moved = [{**row, **{k: row[k] * 1.6 for k in shifted}} for row in rows[100:200]]
        for start in range(0, 100, 25):
            r = c.post("/v1/scenarios/cancer/predict", json={"inputs": moved[start : start + 25]})
            assert r.status_code == 200, r.text
    report = monitor_report(ws.store, ws.settings, "cancer", monitor.parse_window("100"))
    cols = report["inputs"]["columns"]
    assert set(shifted) <= set(report["inputs"]["drifted_columns"])
    assert len(cols) == 31 and cols["mean radius"]["method"] == "ks"
    assert len(calm["inputs"]["drifted_columns"]) <= 3  # 31 tests at p < 0.05 on undrifted rows
    assert report["signals"]["input_drift"]["state"] == "ok"  # 3 of 31 is not dataset drift
