"""The demo's API server in its own process, and the HTTP clients that call it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCENARIO = "review-sentiment"


@dataclass(frozen=True)
class Api:
    """A running `modelmint serve` on a free local port."""

    base: str  # http://127.0.0.1:PORT
    log_path: Path

    def client(self, key: str) -> Any:  # -> httpx.Client, imported lazily
        import httpx

        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`; 0.0 for none."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def api_server(home: Path) -> Iterator[Api]:
    """`modelmint --home HOME serve --no-worker` as a subprocess; stopped on exit."""
    port = _free_port()
    api = Api(f"http://127.0.0.1:{port}", home / "logs" / "server.log")
    api.log_path.parent.mkdir(parents=True, exist_ok=True)
    # the demo always runs on the embedded SQLite default in its own home
    env = {k: v for k, v in os.environ.items() if k != "MODELMINT_DATABASE_URL"}
    with api.log_path.open("w") as log:
        command = ["serve", "--port", str(port), "--no-worker"]
        server = subprocess.Popen(
            [sys.executable, "-m", "modelmint", "--home", str(home), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            _wait_ready(api, server)
            yield api
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_ready(api: Api, server: subprocess.Popen, timeout: float = 90) -> None:
    import httpx

    from modelmint.errors import ServiceUnavailable

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServiceUnavailable(
                f"the API server exited with code {server.returncode}; see {api.log_path}"
            )
        try:
            if httpx.get(f"{api.base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ServiceUnavailable(
        f"the API server did not become ready in {timeout:.0f}s; see {api.log_path}"
    )


def wait_until_serving(api: Api, key: str, model: str, timeout: float = 30) -> None:
    """The server follows promotions within a second, after warming the new version."""
    with api.client(key) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = client.get("/readyz").json()["scenarios"].get(SCENARIO, {})
            if ready.get("model") == model:
                return
            time.sleep(0.2)


def predict_one(client: Any, text: str, subject: str | None = None) -> dict[str, Any]:
    """One text, one call: the prediction and the model that answered."""
    body: dict[str, Any] = {"inputs": [text]}
    if subject is not None:
        body["subject"] = subject
    r = client.post(f"/v1/scenarios/{SCENARIO}/predict", json=body)
    r.raise_for_status()
    body = r.json()
    return {**body["predictions"][0], "model": body["model"]}


def hammer(
    api: Api, key: str, texts: list[str], *, clients: int, seconds: float
) -> tuple[list[float], int, float]:
    """`clients` threads send one text per call for `seconds`: the latencies (ms) of the calls
    that answered 200, the number that failed, and the seconds it took."""
    latencies: list[float] = []
    failed = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(offset: int) -> None:
        nonlocal failed
        with api.client(key) as c:
            i = offset
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                r = c.post(
                    f"/v1/scenarios/{SCENARIO}/predict", json={"inputs": [texts[i % len(texts)]]}
                )
                took = (time.perf_counter() - t0) * 1000
                with lock:
                    if r.status_code == 200:
                        latencies.append(took)
                    else:
                        failed += 1
                i += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, failed, time.perf_counter() - started
