"""Servers the deployment tests start or borrow: a Redis of their own (set up wrong on
purpose), and a RabbitMQ virtual host of this test pass's own."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import redis

from newsletter.config import Settings
from newsletter.jobs.celery_app import create_celery
from tests.helpers.env import backend, free_port, service_up

RABBITMQ = ("127.0.0.1", 5672)
QUEUE = "newsletter"  # the app's one queue (jobs.celery_app: task_default_queue)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``private_redis("--maxmemory-policy", "allkeys-lru")``: a redis-server of this test's
    own on a free loopback port (no snapshots, ``appendonly no`` unless the arguments say
    otherwise); returns its URL. Stopped after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/test installs it)")
    started: list[subprocess.Popen[bytes]] = []

    def start(*arguments: str) -> str:
        port = free_port()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(tmp_path), *arguments]
        with (tmp_path / f"redis-{port}.log").open("wb") as log:
            started.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                return url
            except redis.ConnectionError:
                if time.monotonic() > deadline or started[-1].poll() is not None:
                    pytest.fail(f"redis-server {' '.join(arguments)} did not start")
                time.sleep(0.05)

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def _vhost_ready(url: str) -> str | None:
    """None when ``url`` can be used, else why not."""
    with create_celery(Settings(broker_url=url)).connection_for_write() as connection:
        try:
            connection.ensure_connection(max_retries=1, timeout=3)
        except Exception as exc:  # amqp's NotAllowed (no such vhost), AccessRefused, OSError
            return str(exc)
        # leftovers of an interrupted run would go to this test's workers (no queue yet: fine)
        with contextlib.suppress(Exception):
            connection.default_channel.queue_purge(QUEUE)
    return None


@pytest.fixture
def rabbitmq_url() -> str:
    """An AMQP URL on the local RabbitMQ, on a virtual host of this test pass's own
    (``newsletter_test_sqlite`` or ``..._postgresql``: the two passes run side by side and
    would take each other's tasks), created with ``rabbitmqctl`` when missing; its queue is
    purged first. Skipped, saying why, when nothing listens on 127.0.0.1:5672."""
    vhost = f"newsletter_test_{backend()}"
    url = os.environ.get("NEWSLETTER_TEST_AMQP_URL") or f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    parts = urlsplit(url)
    host, port = parts.hostname or RABBITMQ[0], parts.port or RABBITMQ[1]
    if not service_up(host, port):
        pytest.skip(f"RabbitMQ is not listening on {host}:{port} (rabbitmq-server -detached)")
    vhost = unquote(parts.path.removeprefix("/")) or "/"
    why = _vhost_ready(url)
    if why is not None and "NOT_ALLOWED" in why and shutil.which("rabbitmqctl"):
        for command in (
            ["rabbitmqctl", "add_vhost", vhost],
            ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        ):
            subprocess.run(command, capture_output=True, timeout=120, check=False)
        why = _vhost_ready(url)
    if why is not None:
        pytest.fail(
            f"RabbitMQ answers on 5672 but {url} cannot be used: {why} (as root: rabbitmqctl "
            f"add_vhost {vhost}; rabbitmqctl set_permissions -p {vhost} guest '.*' '.*' '.*')"
        )
    return url
