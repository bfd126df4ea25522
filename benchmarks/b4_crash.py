"""B4 metering under a crash: 50,000 requests from 64 concurrent clients against 2 server
processes sharing PostgreSQL (and Redis for the rate limits when it answers); one process is
killed with SIGKILL mid-run and restarted. Afterwards the 2xx responses the clients saw must
equal the usage rows: none lost, none double-counted.

    python benchmarks/b4_crash.py                  # 50,000 requests
    python benchmarks/b4_crash.py --requests 5000  # smoke

What runs (see BENCHMARKS.md, B4):

- a fresh PostgreSQL schema and ModelMint home built through the CLI (the tabular scenario of
  B2: LightGBM on 4 columns of sklearn's breast cancer table), a plan whose quota and rate limit
  never bind, a tenant and an API key;
- two `modelmint serve --no-worker` processes on two ports;
- clients: 64 asyncio tasks (aiohttp, `make bench` installs it), each request with its own Idempotency-Key, sent to the
  servers in turn. A request that fails (connection refused or reset, 5xx) is retried with the
  same key and body on the other server, with backoff, until it gets an answer; a retry of a
  request that was committed before its answer was lost gets the stored answer
  (Idempotent-Replayed) and is not metered again;
- when a third of the requests are answered, server A's process group gets SIGKILL; it is
  restarted 2 s later on the same port.

Checks, from the database after the run: usage rows == requests answered 2xx (each request
exactly once), prediction-log rows == usage rows (1 row each), idempotency records == usage
rows, and the tenant's quota counter == usage rows. Results: benchmarks/results/b4.json
(b4-quick.json below 50,000 requests); a markdown summary on stdout."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.b1_serving import Server, free_port, git_commit, log, machine_info  # noqa: E402
from benchmarks.b2_gateway import (  # noqa: E402
    REDIS_URL,
    SCENARIO,
    TENANT,
    build,
    drop_schema,
    env_for,
    modelmint_exe,
    pg_schema,
    redis_up,
)

RESULTS = ROOT / "benchmarks/results"


class Clients:
    """64 workers sending `n` requests, each until it is answered (2xx or a 4xx)."""

    def __init__(self, urls: list[str], key: str, bodies: list[str], n: int, conc: int) -> None:
        self.urls, self.key, self.bodies, self.n, self.conc = urls, key, bodies, n, conc
        self.next = 0
        self.ok = 0
        self.replayed = 0
        self.refused: dict[int, int] = {}
        self.retries = 0
        self.errors: dict[str, int] = {}
        self.started = time.perf_counter()
        self.answered_at: list[float] = []

    def _note(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def one(self, client: Any, i: int) -> None:
        import aiohttp

        headers = {
            "Authorization": f"Bearer {self.key}",
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        body = self.bodies[i % len(self.bodies)]
        attempt = 0
        while True:
            url = self.urls[(i + attempt) % len(self.urls)]
            try:
                async with client.post(url, data=body, headers=headers) as r:
                    await r.read()
                    status, replay = r.status, r.headers.get("Idempotent-Replayed")
            except (TimeoutError, aiohttp.ClientError) as exc:
                self._note(type(exc).__name__)
            else:
                if status < 300:
                    self.ok += 1
                    self.replayed += replay == "true"
                    self.answered_at.append(time.perf_counter() - self.started)
                    return
                if status < 500 and status not in (408, 429):
                    self.refused[status] = self.refused.get(status, 0) + 1
                    return
                self._note(f"HTTP {status}")
            attempt += 1
            self.retries += 1
            await asyncio.sleep(min(1.0, 0.02 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1))

    async def worker(self, client: Any) -> None:
        while self.next < self.n:
            i = self.next
            self.next += 1
            await self.one(client, i)

    async def run(self) -> None:
        import aiohttp

        conn = aiohttp.TCPConnector(limit=self.conc, limit_per_host=self.conc)
        timeout = aiohttp.ClientTimeout(total=30, connect=5)
        async with aiohttp.ClientSession(connector=conn, timeout=timeout) as client:
            await asyncio.gather(*(self.worker(client) for _ in range(self.conc)))


async def drive(a: argparse.Namespace, servers: list[Server], clients: Clients) -> dict:
    task = asyncio.create_task(clients.run())
    crash: dict[str, Any] = {}
    while not task.done():
        await asyncio.sleep(0.05)
        if not crash and clients.ok >= a.requests * a.kill_at:
            victim = servers[0]
            assert victim.proc is not None
            crash["at_answered"] = clients.ok
            crash["at_s"] = round(time.perf_counter() - clients.started, 2)
            os.killpg(victim.proc.pid, signal.SIGKILL)
            victim.proc.wait()
            log(f"   SIGKILL to server A (pid {victim.proc.pid}) after {clients.ok} answers")
            await asyncio.sleep(a.down_s)
            t = time.perf_counter()
            await asyncio.to_thread(victim.start)
            crash["restart_ready_s"] = round(time.perf_counter() - t, 2)
            crash["down_s"] = round(time.perf_counter() - clients.started - crash["at_s"], 2)
            log(f"   server A back after {crash['down_s']} s")
        if int(time.perf_counter() - clients.started) % 10 == 0 and a.verbose:
            log(f"   {clients.ok}/{a.requests} answered")
    await task
    return crash


def count(db_url: str, tenant: str) -> dict[str, int]:
    import sqlalchemy as sa

    eng = sa.create_engine(db_url)
    q = {
        "usage_rows": "SELECT count(*) FROM usage u JOIN tenants t ON t.id = u.tenant_id "
        "WHERE t.name = :t",
        "distinct_request_ids": "SELECT count(DISTINCT request_id) FROM usage u JOIN tenants t "
        "ON t.id = u.tenant_id WHERE t.name = :t",
        "usage_units": "SELECT coalesce(sum(units), 0) FROM usage u JOIN tenants t ON "
        "t.id = u.tenant_id WHERE t.name = :t",
        "prediction_rows": "SELECT count(*) FROM predictions p JOIN tenants t ON "
        "t.id = p.tenant_id WHERE t.name = :t",
        "idempotency_records": "SELECT count(*) FROM idempotency_keys i JOIN tenants t ON "
        "t.id = i.tenant_id WHERE t.name = :t",
        "quota_counter": "SELECT coalesce(sum(units), 0) FROM quota_counters q JOIN tenants t "
        "ON t.id = q.tenant_id WHERE t.name = :t",
    }
    with eng.connect() as c:
        out = {k: int(c.execute(sa.text(v), {"t": tenant}).scalar()) for k, v in q.items()}
    eng.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=50_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--kill-at", type=float, default=1 / 3, help="fraction answered at the kill")
    p.add_argument("--down-s", type=float, default=2.0, help="seconds before the restart")
    p.add_argument("--no-redis", action="store_true", help="rate limits in the database")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    out_path = a.out or RESULTS / ("b4.json" if a.requests >= 50_000 else "b4-quick.json")
    started = time.time()
    db_url, schema = pg_schema()
    use_redis = not a.no_redis and redis_up()
    try:
        with tempfile.TemporaryDirectory(prefix="modelmint-b4-") as tmp:
            home = Path(tmp) / "home"
            log("== building the scenario (PostgreSQL)")
            scen = build(home, db_url)
            bodies = [json.dumps({"inputs": [r]}) for r in scen["rows"]]
            extra = {"MODELMINT_SERVE_THREADS": "1"}
            extra["MODELMINT_RATE_LIMIT_BACKEND"] = "redis" if use_redis else "database"
            if use_redis:
                extra["MODELMINT_REDIS_URL"] = REDIS_URL
            env = env_for(home, db_url, extra)
            servers, urls = [], []
            for name in ("A", "B"):
                port = free_port()
                servers.append(
                    Server(
                        f"server {name}",
                        [*modelmint_exe(), "serve", "--no-worker", "--port", str(port)],
                        env,
                        f"http://127.0.0.1:{port}/readyz",
                        Path(tmp) / f"server-{name}.log",
                    )
                )
                urls.append(f"http://127.0.0.1:{port}/v1/scenarios/{SCENARIO}/predict")
            for s in servers:
                s.start()
            log(f"== {a.requests} requests, {a.concurrency} clients, 2 servers")
            clients = Clients(urls, scen["key"], bodies, a.requests, a.concurrency)
            try:
                crash = asyncio.run(drive(a, servers, clients))
            finally:
                for s in servers:
                    s.stop()
            seconds = time.perf_counter() - clients.started
            db = count(db_url, TENANT)
    finally:
        drop_schema(schema)
    checks = {
        "usage_rows == answered 2xx": db["usage_rows"] == clients.ok,
        "no request metered twice": db["distinct_request_ids"] == db["usage_rows"],
        "prediction rows == usage rows": db["prediction_rows"] == db["usage_rows"],
        "idempotency records == usage rows": db["idempotency_records"] == db["usage_rows"],
        "quota counter == usage units": db["quota_counter"] == db["usage_units"],
    }
    res = {
        "benchmark": "B4 metering under a crash",
        "command": "python benchmarks/b4_crash.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_info(),
        "git": git_commit(),
        "settings": {
            "requests": a.requests,
            "concurrency": a.concurrency,
            "servers": 2,
            "database": "postgresql",
            "rate_limits": "redis" if use_redis else "database",
        },
        "crash": crash,
        "clients": {
            "answered_2xx": clients.ok,
            "replayed_after_lost_answer": clients.replayed,
            "refused_4xx": clients.refused,
            "retries": clients.retries,
            "errors_before_retry": clients.errors,
            "seconds": round(seconds, 1),
            "metered_per_s": round(clients.ok / seconds, 1),
        },
        "database": db,
        "checks": checks,
        "passed": all(checks.values()) and not clients.refused,
        "total_seconds": round(time.time() - started, 1),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(res, indent=2))
    print(
        f"| requests | answered 2xx | usage rows | replayed | retries | killed at | "
        f"metered/s | passed |\n|---|---|---|---|---|---|---|---|\n| {a.requests} | "
        f"{clients.ok} | {db['usage_rows']} | {clients.replayed} | {clients.retries} | "
        f"{crash.get('at_answered')} answered, down {crash.get('down_s')} s | "
        f"{res['clients']['metered_per_s']} | {res['passed']} |"
    )
    log(f"checks: {checks}; errors seen by clients before their retry: {clients.errors}")
    log(f"wrote {out_path}")
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
