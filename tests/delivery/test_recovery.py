"""A worker killed or stopped mid-batch, with real Celery workers on a real Redis, the test's
database (SQLite or PostgreSQL) and an SMTP server on loopback that counts every recipient.

SIGKILL: the rest of the dead worker's batch is being sent again within 30 s (its lease, 15 s by
default, plus an idle worker's look every 5 s), with at most one duplicate. SIGTERM (Celery's
warm shutdown): the batch hands its unsent rows back and another worker continues at once,
with no duplicate. A broker that cannot be reached fails a send with one clear error and
leaves the issue sendable.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.dispatch import CeleryDispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.errors import WorkError
from newsletter.jobs.celery_app import create_celery
from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus, Subscriber
from tests.helpers.env import free_port
from tests.helpers.factories import NOW, delivery_counts, issue_with, review
from tests.helpers.fault_servers import PrivateRedis
from tests.helpers.smtp import Recorder
from tests.helpers.workers import start_worker, stop, tails, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.redis]


class Counting(Recorder):
    """Takes ``delay`` seconds per message and counts deliveries per recipient."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)

    def received(self) -> Counter[str]:
        return Counter(self.recipients)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """A Redis server of this test's own (other tests flush the shared one)."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def fleet(
    settings: Settings, broker: str, tmp_path: Path
) -> Iterator[Callable[[int, float], tuple[Settings, Counting, list[subprocess.Popen[bytes]]]]]:
    processes: list[subprocess.Popen[bytes]] = []
    controllers: list[Controller] = []

    def start(
        workers: int, delay: float
    ) -> tuple[Settings, Counting, list[subprocess.Popen[bytes]]]:
        recorder = Counting(delay)
        port = free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        config = settings.with_overrides(
            broker_url=broker, smtp_url=f"smtp://127.0.0.1:{port}", batch_size=100
        )
        logs = [tmp_path / f"worker{n}.log" for n in range(workers)]
        started = [start_worker(config, f"w{n}", log) for n, log in enumerate(logs)]
        processes.extend(started)
        wait_ready(logs, started)
        return config, recorder, started

    yield start
    stop(processes)
    for controller in controllers:
        controller.stop()


def _logs(tmp_path: Path) -> str:
    return tails(sorted(tmp_path.glob("worker*.log")))


def _status(factory: sessionmaker[Session], issue_id: int) -> IssueStatus:
    with factory() as session:
        return session.get_one(Issue, issue_id).status


def _held_by(factory: sessionmaker[Session], pid: int) -> list[str]:
    """Addresses of the rows still ``sending`` under claims of process ``pid``."""
    with factory() as session:
        return list(
            session.scalars(
                select(Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(
                    Delivery.state == DeliveryState.SENDING,
                    Delivery.claimed_by.like(f"%:{pid}:%"),
                )
            )
        )


def _until(check: Callable[[], bool], seconds: float, tmp_path: Path) -> float:
    """Seconds until ``check()`` holds (fails after ``seconds``)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            pytest.fail("timed out; worker logs:\n" + _logs(tmp_path))
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_killed_workers_batch_is_sent_again_within_30_s(
    fleet: Callable[[int, float], tuple[Settings, Counting, list[subprocess.Popen[bytes]]]],
    factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    config, recorder, (victim, _survivor) = fleet(2, 0.02)
    emails = [f"reader{i:03d}@example.com" for i in range(200)]
    issue_id = issue_with(factory, config, [review("a", "Film")], emails)
    send_issue(factory, config, issue_id, CeleryDispatcher(create_celery(config)), NOW)
    # the victim is well into its batch of 100
    _until(lambda: len(_held_by(factory, victim.pid)) in range(1, 80), 30, tmp_path)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    stranded = _held_by(factory, victim.pid)
    assert stranded, "the victim held no rows when it died"
    before = recorder.received()

    def resent() -> bool:
        now = recorder.received()
        return any(now[a] > before[a] for a in stranded)

    _until(resent, 30, tmp_path)
    first_resend = time.monotonic() - killed_at
    _until(lambda: _status(factory, issue_id) is IssueStatus.SENT, 30, tmp_path)
    received = recorder.received()
    assert sorted(received) == emails  # nobody lost
    assert sum(received.values()) - len(emails) <= 1  # one duplicate per kill, at most
    done = time.monotonic() - killed_at
    print(
        f"SIGKILL: {len(stranded)} stranded; resent after {first_resend:.1f} s, done {done:.1f} s"
    )
    assert first_resend < 30, f"{len(stranded)} stranded rows waited {first_resend:.1f} s"
    assert delivery_counts(factory, issue_id) == {DeliveryState.SENT: len(emails)}


def test_a_warm_shutdown_hands_its_rows_to_another_worker_at_once(
    fleet: Callable[[int, float], tuple[Settings, Counting, list[subprocess.Popen[bytes]]]],
    factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    config, recorder, (victim, _survivor) = fleet(2, 0.02)
    emails = [f"reader{i:03d}@example.com" for i in range(200)]
    issue_id = issue_with(factory, config, [review("a", "Film")], emails)
    send_issue(factory, config, issue_id, CeleryDispatcher(create_celery(config)), NOW)
    _until(lambda: len(_held_by(factory, victim.pid)) in range(1, 80), 30, tmp_path)
    os.kill(victim.pid, signal.SIGTERM)
    stopped_at = time.monotonic()
    victim.wait(timeout=20)
    assert victim.returncode == 0, _logs(tmp_path)
    assert _held_by(factory, victim.pid) == []  # nothing left for a lease to free
    _until(lambda: _status(factory, issue_id) is IssueStatus.SENT, 30, tmp_path)
    took = time.monotonic() - stopped_at
    print(f"SIGTERM: the issue was sent {took:.1f} s after the warm shutdown began")
    print(tails([tmp_path / "worker0.log"]))
    received = recorder.received()
    assert sorted(received) == emails and set(received.values()) == {1}  # exactly once
    assert took < 10, f"the handed-back rows took {took:.1f} s"  # well inside one lease


def test_a_broker_lost_after_the_commit_leaves_the_issue_sendable(
    settings: Settings, broker: str, factory: sessionmaker[Session]
) -> None:
    closed = f"redis://:secret@127.0.0.1:{free_port()}/0"
    down = settings.with_overrides(broker_url=closed, batch_size=2)
    issue_id = issue_with(factory, down, [review("a", "Film")], ["a@x.org", "b@x.org", "c@x.org"])
    started = time.monotonic()
    with pytest.raises(WorkError) as failed:
        send_issue(factory, down, issue_id, CeleryDispatcher(create_celery(down)), NOW)
    assert time.monotonic() - started < 10  # bounded, not kombu's hundred retries
    message = str(failed.value)
    assert f"broker {closed.replace(':secret@', ':***@')}: cannot queue work" in message
    assert "secret" not in message and "\n" not in message
    assert "it is sending, 3 message(s) wait for a worker" in message
    assert delivery_counts(factory, issue_id) == {DeliveryState.QUEUED: 3}
    # the broker is back: sending again queues the batches, nothing is created twice
    up = settings.with_overrides(broker_url=broker, batch_size=2)
    again = send_issue(factory, up, issue_id, CeleryDispatcher(create_celery(up)), NOW)
    assert (again.recipients, again.batches) == (0, 2)
    assert redis.Redis.from_url(broker).llen("newsletter") == 2
