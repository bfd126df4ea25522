"""`modelmint serve` starts a job worker; the worker must never outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.slow
def test_worker_exits_when_its_parent_is_killed(tmp_path, db_url):
    env = {**os.environ, "MODELMINT_HOME": str(tmp_path / "home"), "MODELMINT_DATABASE_URL": db_url}
    # a stand-in parent: a shell that starts the worker with its own pid, then sleeps
    log = tmp_path / "worker.log"
    parent = subprocess.Popen(
        [
            "sh",
            "-c",
            f'"{sys.executable}" -m modelmint worker --parent $$ 2>"{log}" & echo $!; sleep 60',
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    worker_pid = int(parent.stdout.readline())
    deadline = time.monotonic() + 60  # wait for the worker's loop to start, not a fixed sleep
    while "started: polling" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.1)
    os.kill(worker_pid, 0)  # running while its parent lives
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not _alive(worker_pid):
            return
        time.sleep(0.2)
    os.kill(worker_pid, signal.SIGKILL)
    pytest.fail("the worker outlived its parent")


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a (container) init to reap it."""
    try:
        with open(f"/proc/{pid}/status") as f:
            state = next(line for line in f if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False
    return "Z" not in state.split()[1]
