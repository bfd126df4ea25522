"""`modelmint serve` and `modelmint worker`."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from typing import Annotated

import typer

from modelmint.cli._common import console, setup_logging, state
from modelmint.errors import ConfigError


def app_factory():
    """Used by uvicorn in each server process: settings come from the environment."""
    from modelmint.serve import create_app
    from modelmint.settings import load_settings

    settings = load_settings()
    setup_logging(settings.log_level, json_lines=True)
    return create_app(settings)


def check_port(host: str, port: int) -> None:
    """ConfigError (exit 7), naming --port, unless `host:port` can be bound right now.

    Binds a socket the way uvicorn will (SO_REUSEADDR, so a port in TIME_WAIT is free) and
    closes it at once: a port another process listens on is refused here, in a second, instead
    of after every model has loaded."""
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} is not a TCP port; pass --port between 1 and 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(
            f"--host {host} is not an address of this machine ({exc.strerror}); pass --host "
            "127.0.0.1, 0.0.0.0 or one of its addresses"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is already in use (another server?); pass --port "
                    f"with a free port, e.g. --port {port + 1 if port < 65535 else 8000}, or stop "
                    "what listens there"
                ) from None
            if exc.errno == errno.EACCES:
                raise ConfigError(
                    f"no permission to listen on port {port} (ports below 1024 need root); pass "
                    "--port 1024 or above, e.g. --port 8000"
                ) from None
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port or --host"
            ) from None


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

    from modelmint.serve.http import uvicorn_options
    from modelmint.serve.pool import last_warm_up
    from modelmint.serve.security import check_admin_token

    st = state(ctx)
    settings = st.settings()
    host = host or settings.host
    port = settings.port if port is None else port
    check_admin_token(settings)  # a weak admin token stops here, before anything loads
    check_port(host, port)  # in seconds, before a database migration or any model loads
    st.workspace()  # migrate once, before the server processes start
    os.environ["MODELMINT_HOME"] = str(settings.home)
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
    last = last_warm_up(settings.cache_dir)
    console.print(
        f"ModelMint API on http://{host}:{port} (docs: /docs) · home {settings.home}\n"
        "Loading the production models first"
        + (
            f" (the last start took {last['seconds']:.0f} s for {last['scenarios']} scenarios)"
            if last
            else " (a first start took about 45 s on 2 cores: encoders load and warm up)"
        )
        + "; each model logs a 'warm-up k/N' line as it is ready."
    )
    try:
        uvicorn.run(
            "modelmint.cli.serve:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            **uvicorn_options(settings),  # header limits and read timeouts (serve/http.py)
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
