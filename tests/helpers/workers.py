"""Celery worker processes for tests: ``celery -A worker worker`` with the test's settings."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from newsletter.config import Settings
from tests.helpers.env import ROOT, clean_environ


def worker_command(name: str) -> list[str]:
    """``celery -A worker worker`` as production runs it (solo pool, the newsletter queue),
    named ``name@host``; to run with ``python -m`` from the repository."""
    command = ["celery", "-A", "worker", "worker", "--pool=solo", "--loglevel=INFO"]
    return [
        *command,
        "-Q",
        "newsletter",
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
    ]


def start_worker(settings: Settings, name: str, log: Path) -> subprocess.Popen[bytes]:
    """One solo worker on ``settings``' broker, its output in ``log``."""
    command = [sys.executable, "-m", *worker_command(name), "--without-heartbeat"]
    with log.open("w") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=clean_environ(**settings.as_environ()),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(
    logs: list[Path], processes: list[subprocess.Popen[bytes]] | None = None, timeout: float = 60
) -> None:
    """Until every worker's log says it is ready; raises with their logs' tails if one exits
    or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while not all(log.exists() and " ready." in log.read_text() for log in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes or []):
            raise RuntimeError("workers did not start:\n" + tails(logs))
        time.sleep(0.1)


def tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {log}\n{log.read_text()[-2000:]}" for log in logs if log.exists())


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate (then kill) every process that is still running."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
