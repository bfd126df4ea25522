"""Retraining policies: validation, the CLI and admin API, triggers fired by the worker's
evaluation (with the reason recorded), the candidate held for an experiment, auto-promote."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from modelmint import billing, experiments
from modelmint.cli import main
from modelmint.errors import InvalidInput, NotFound
from modelmint.experiments.policy import PolicySpec, check, get_policy, set_policy
from modelmint.pipeline import train_and_register
from modelmint.pipeline.policies import after_retrain, run_policies
from modelmint.pipeline.worker import run_job
from modelmint.serve import create_app
from modelmint.store import utcnow
from modelmint.train import TrainConfig

ADMIN = "a" * 40


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (PolicySpec(retrain_every="0h"), "out of range"),
        (PolicySpec(retrain_every="400d"), "out of range"),
        (PolicySpec(retrain_every="1w"), "not a duration"),
        (PolicySpec(retrain_every="-3d"), "not a duration"),
        (PolicySpec(retrain_after_labels=0), "out of range"),
        (PolicySpec(retrain_after_labels=10**9), "out of range"),
        (PolicySpec(challenger="canary"), "not one of"),
        (PolicySpec(challenger="split"), "not one of"),
        (PolicySpec(challenger="split:0", metric="x"), "1 to 99"),
        (PolicySpec(challenger="split:100", metric="x"), "1 to 99"),
        (PolicySpec(challenger="bandit"), "--metric"),
        (PolicySpec(auto_promote=True), "--challenger"),
    ],
)
def test_nonsense_policies_are_refused(spec, says):
    with pytest.raises(InvalidInput, match=says):
        check(spec)


def test_policy_cli_and_admin(ws, tiny_trained, capsys, monkeypatch):
    monkeypatch.setenv("MODELMINT_DATABASE_URL", ws.settings.database_url or "")
    home = ["--home", str(ws.settings.home)]
    rc = main([*home, "policy", "set", "reviews", "--retrain-after-labels", "20", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["retrain_after_labels"] == 20 and out["last_run_at"] is None
    assert main([*home, "policy", "set", "reviews", "--retrain-every", "2w"]) == 2
    assert "not a duration" in capsys.readouterr().err
    assert main([*home, "policy", "show", "nope"]) == 4
    capsys.readouterr()
    ws.settings.admin_token = SecretStr(ADMIN)
    with TestClient(create_app(ws.settings, ws.store)) as c:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        r = c.put(
            "/v1/admin/scenarios/reviews/policy",
            json={"retrain_on_drift": True, "challenger": "split:20", "metric": "converted"},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        assert r.json()["challenger"] == "split:20" and r.json()["retrain_after_labels"] is None
        assert c.get("/v1/admin/scenarios/reviews/policy", headers=auth).json()["retrain_on_drift"]
        bad = c.put(
            "/v1/admin/scenarios/reviews/policy", json={"challenger": "bandit"}, headers=auth
        )
        assert bad.status_code == 400 and "--metric" in bad.json()["error"]
        assert c.get("/v1/admin/scenarios/nope/policy", headers=auth).status_code == 404
    with pytest.raises(NotFound):
        set_policy(ws.store, "nope", PolicySpec(retrain_on_drift=True), utcnow())


def _feedback(ws, client, texts, label_of):
    for t in texts:
        pid = client.post("/v1/scenarios/reviews/predict", json={"inputs": [t]}).json()[
            "predictions"
        ][0]["id"]
        assert (
            client.post(
                "/v1/feedback", json={"prediction_id": pid, "label": label_of(t)}
            ).status_code
            == 201
        )


def test_label_trigger_fires_a_retrain_job_with_its_reason(ws, tiny_trained, clear_review_rows):
    set_policy(ws.store, "reviews", PolicySpec(retrain_after_labels=5), utcnow())
    assert run_policies(ws) == []  # no labels yet
    billing.create_plan(ws.store, "p", price_per_1k="1.00", quota=1000)
    billing.create_tenant(ws.store, "acme", plan="p")
    key, _ = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        _feedback(
            ws,
            c,
            ["物流很快，东西很好", "服务态度很差，很失望", "包装不错，很满意"],
            lambda t: "neg" if "差" in t else "pos",
        )
        assert run_policies(ws) == []  # 3 < 5
        _feedback(
            ws, c, ["质量太差了，退货", "颜色很好看，喜欢"], lambda t: "neg" if "差" in t else "pos"
        )
    fired = run_policies(ws)
    assert len(fired) == 1 and fired[0]["trigger"] == "5 new labels (>= 5)" and fired[0]["job"]
    assert run_policies(ws) == []  # a retrain job is queued: nothing fires twice
    policy = get_policy(ws.store, "reviews")
    assert policy["last_trigger"] == "5 new labels (>= 5)" and policy["last_job"] == fired[0]["job"]
    job = ws.store.jobs.claim_next("test")
    result = run_job(ws, job)
    assert result["trigger"] == "5 new labels (>= 5)" and result["curation"]["added"] == 5


def test_every_trigger_without_new_feedback_is_skipped_with_the_reason(ws, tiny_trained):
    set_policy(ws.store, "reviews", PolicySpec(retrain_every="1h"), utcnow())
    assert run_policies(ws) == []
    later = datetime.now(UTC) + timedelta(hours=2)
    done = run_policies(ws, now=later)
    assert done[0]["trigger"] == "every 1h" and "no new labelled feedback" in done[0]["skipped"]
    assert "skipped" in get_policy(ws.store, "reviews")["last_trigger"]
    assert run_policies(ws, now=later + timedelta(minutes=1)) == []  # waits for the next hour


def test_held_candidate_challenges_production_then_auto_promote_decides(
    ws, tiny_trained, tiny_encoder
):
    train_and_register(ws, "reviews", config=TrainConfig(base_model=tiny_encoder, seed=1))
    set_policy(
        ws.store,
        "reviews",
        PolicySpec(challenger="split:50", metric="converted", auto_promote=True),
        utcnow(),
    )
    started = after_retrain(
        ws, "reviews", {"decision": {"promote": True}, "candidate": "reviews:2"}
    )
    assert started["mode"] == "split"
    exp = experiments.running(ws.store, "reviews")
    assert exp["share"] == 0.5 and exp["metric"] == "converted"
    assert run_policies(ws) == []  # no verdict yet: the experiment keeps running
    assert experiments.running(ws.store, "reviews")["id"] == exp["id"]
    billing.create_plan(ws.store, "p", price_per_1k="1.00", quota=100_000)
    billing.create_tenant(ws.store, "acme", plan="p")
    key, _ = billing.create_key(ws.store, "acme")
    with TestClient(create_app(ws.settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        for i in range(80):  # simulated: only the challenger's answers convert
            body = c.post(
                "/v1/scenarios/reviews/predict", json={"inputs": ["还不错"], "subject": f"u{i}"}
            ).json()
            if body["model"] == "reviews:2":
                pid = body["predictions"][0]["id"]
                c.post("/v1/outcomes", json={"prediction_id": pid, "event": "converted"})
    decided = run_policies(ws)
    assert decided == [{"scenario": "reviews", "experiment": exp["id"], "promoted": False}]
    shown = experiments.summary(ws.store, experiments.current(ws.store, "reviews"))
    gate = shown["decision"]["gate"]
    assert shown["status"] == "stopped" and shown["verdict"]["better"]
    assert not gate["promote"] and "not significant" in gate["quality"]["reason"]
