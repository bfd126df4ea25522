"""`modelmint serve --workers 2`: two server processes share the database; every answered
prediction is metered exactly once, a quota of 1,000 units serves exactly 1,000 across them,
and /metrics sums over both."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from modelmint import billing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def two_servers(ws):
    """`modelmint serve --workers 2 --no-worker` on the test's database; yields its URL once
    /readyz answers, stops it after."""
    port = _free_port()
    env = {
        **os.environ,
        "MODELMINT_HOME": str(ws.settings.home),
        "MODELMINT_DATABASE_URL": ws.settings.sqlalchemy_url,
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelmint",
            "serve",
            "--workers",
            "2",
            "--no-worker",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.slow
def test_two_server_processes_meter_exactly_and_share_metrics(ws, trained):
    billing.create_plan(ws.store, "small", price_per_1k="1.00", quota=1000)
    billing.create_tenant(ws.store, "acme", plan="small")
    key, _ = billing.create_key(ws.store, "acme")
    with two_servers(ws) as url:
        codes: Counter[int] = Counter()
        lock = threading.Lock()

        def client() -> None:
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as c:
                for _ in range(20):  # new connections too, so both processes take calls
                    r = c.post(
                        "/v1/scenarios/reviews/predict",
                        json={"inputs": ["质量很好", "太差了"] * 3 + ["好"]},  # 7 units
                        headers={"Connection": "close"},
                    )
                    with lock:
                        codes[r.status_code] += 1

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        # 142 calls of 7 fit (994 units); now single units up to the boundary, and one over it
        singles = [
            httpx.post(
                f"{url}/v1/scenarios/reviews/predict",
                json={"inputs": ["好"]},
                headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                timeout=60,
            ).status_code
            for _ in range(7)
        ]
        metrics = httpx.get(f"{url}/metrics").text
    # 160 calls of 7 units against a quota of 1,000: exactly 142 answered (994 units), then
    # six single units reach 1,000 and the seventh is refused: never 1,001
    assert codes == {200: 142, 429: 18}, codes
    assert singles == [200] * 6 + [429], singles
    usage = billing.usage_summary(ws.store, tenant="acme")[0]
    assert usage["total_units"] == 1000
    line = next(
        ln
        for ln in metrics.splitlines()
        if ln.startswith('modelmint_requests_total{route="/v1/scenarios/{scenario}/predict"')
        and 'status="200"' in ln
    )
    assert float(line.rsplit(" ", 1)[1]) == 148  # summed over both processes
    loaded = next(ln for ln in metrics.splitlines() if ln.startswith("modelmint_model_loaded{"))
    assert float(loaded.rsplit(" ", 1)[1]) == 2  # reviews:1 is loaded in each process


def _answered_by(url: str, key: str, subjects: list[str]) -> list[tuple[str, str, str]]:
    """(subject, model that answered, prediction id) for one call per subject, each on a new
    connection so that both processes take calls."""
    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        for s in subjects:
            r = c.post(
                "/v1/scenarios/reviews/predict",
                json={"inputs": ["质量很好"], "subject": s},
                headers={"Connection": "close"},
            )
            assert r.status_code == 200, r.text
            out.append((s, r.json()["model"], r.json()["predictions"][0]["id"]))
    return out


@pytest.mark.slow
def test_split_and_bandit_give_a_subject_one_version_across_two_processes(ws, trained):
    """A split and a bandit assign by a hash of experiment and subject: every subject gets the
    same version from either process, exactly the hash's choice; a bandit's new share, stored
    by the worker, reaches both processes; each call is metered once."""
    from modelmint import experiments
    from modelmint.pipeline import train_and_register

    challenger = train_and_register(ws, "reviews").model  # reviews:2
    billing.create_plan(ws.store, "p", price_per_1k="1.00")
    tenant = billing.create_tenant(ws.store, "acme", plan="p")
    key, _ = billing.create_key(ws.store, "acme")
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    split = experiments.start(ws.store, "reviews", challenger.ref, "split", now=t0, traffic=30)
    subjects = [f"user-{i}" for i in range(40)]

    def expected(exp_id: str, share: float) -> dict[str, str]:
        return {
            s: "reviews:2" if experiments.challenger_answers(exp_id, s, share) else "reviews:1"
            for s in subjects
        }

    with two_servers(ws) as url:
        calls = _answered_by(url, key, subjects * 2)  # every subject twice
        want = expected(split["id"], 0.30)
        assert 0 < sum(v == "reviews:2" for v in want.values()) < len(subjects)
        assert [m for s, m, _ in calls] == [want[s] for s, _, _ in calls]
        arms = {(m, ws.store.feedback.prediction(p, tenant["id"])["arm"]) for _, m, p in calls}
        assert arms == {("reviews:2", "challenger"), ("reviews:1", "production")}
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
            r = c.post("/v1/outcomes", json={"prediction_id": calls[0][2], "event": "converted"})
            assert r.status_code == 201, r.text
        experiments.finish(ws.store, split, {"action": "keep"}, t0 + timedelta(hours=1))
        bandit = experiments.start(
            ws.store, "reviews", challenger.ref, "bandit", now=t0, metric="converted"
        )
        # what the worker does each minute: a new share on the experiment, read by every
        # process with its alias refresh (polled each second); wait until both follow it
        ws.store.experiments.set_share(bandit["id"], 0.8, t0 + timedelta(hours=2))
        want = expected(bandit["id"], 0.8)
        deadline = time.monotonic() + 60
        followed = 0
        while followed < 2:  # two rounds in a row on fresh connections: both processes
            got = _answered_by(url, key, subjects)
            followed = followed + 1 if all(m == want[s] for s, m, _ in got) else 0
            assert time.monotonic() < deadline, "the bandit's new share never reached both"
    # every answered call metered once, whichever process answered it
    usage = billing.usage_summary(ws.store, tenant="acme")[0]
    assert usage["total_units"] == ws.store.feedback.counts("reviews")["predictions"]
    assert usage["total_units"] >= len(calls) + 2 * len(subjects)
