"""`modelmint serve` and `modelmint worker`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Annotated

import typer

from modelmint.cli._common import console, setup_logging, state


def app_factory():
    """Used by uvicorn in each server process: settings come from the environment."""
    from modelmint.serve import create_app
    from modelmint.settings import load_settings

    settings = load_settings()
    setup_logging(settings.log_level, json_lines=True)
    return create_app(settings)


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (default MODELMINT_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (default MODELMINT_PORT, 8000).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes sharing the database.")
    ] = 1,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not start a `modelmint worker` for queued jobs.")
    ] = False,
) -> None:
    """Serve the production version of every scenario over HTTP (OpenAPI docs at /docs)."""
    import uvicorn

    st = state(ctx)
    settings = st.settings()
    st.workspace()  # migrate once, before the server processes start
    os.environ["MODELMINT_HOME"] = str(settings.home)
    host = host or settings.host
    port = settings.port if port is None else port
    job_worker = None
    if not no_worker:
        job_worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelmint",
                "--home",
                str(settings.home),
                "worker",
                "--parent",
                str(os.getpid()),
            ]
        )
    if settings.serve_threads is None:  # share the cores between the server processes
        os.environ["MODELMINT_SERVE_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    if workers > 1 and settings.rate_limit_backend == "auto" and not settings.redis_url:
        # several processes and no Redis: count rate and concurrency limits in the database
        os.environ["MODELMINT_RATE_LIMIT_BACKEND"] = "database"
    metrics_dir = None
    if workers > 1:  # /metrics sums over every server process (prometheus_client multiprocess)
        metrics_dir = tempfile.mkdtemp(prefix="modelmint-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    console.print(f"ModelMint API on http://{host}:{port} (docs: /docs) · home {settings.home}")
    try:
        uvicorn.run(
            "modelmint.cli.serve:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if job_worker is not None:
            job_worker.terminate()
            try:
                job_worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                job_worker.kill()


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run the queued jobs, then exit.")] = False,
    parent: Annotated[
        int | None,
        typer.Option(
            "--parent", help="Exit when this process (e.g. `modelmint serve`) is gone.", hidden=True
        ),
    ] = None,
) -> None:
    """Run queued jobs (retrains requested over HTTP or with `retrain --queue`)."""
    from modelmint.pipeline import run_worker

    st = state(ctx)
    ws = st.workspace()
    setup_logging(ws.settings.log_level, json_lines=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if parent is not None:
        # started by `modelmint serve`: never outlive it, however it ends (even kill -9)
        def watch() -> None:
            while not stop.wait(1.0):
                if os.getppid() != parent:
                    stop.set()

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()
    ran = run_worker(ws, once=once, stop=stop)
    if once:
        console.print(f"ran {ran} job(s)")
