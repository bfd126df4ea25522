"""`modelmint serve --workers 2`: two server processes share the database; every answered
prediction is metered exactly once, a quota of 1,000 units serves exactly 1,000 across them,
and /metrics sums over both."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

from modelmint import billing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_server_processes_meter_exactly_and_share_metrics(ws, trained):
    billing.create_plan(ws.store, "small", price_per_1k="1.00", quota=1000)
    billing.create_tenant(ws.store, "acme", plan="small")
    key, _ = billing.create_key(ws.store, "acme")
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
    finally:
        server.terminate()
        server.wait(30)
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
