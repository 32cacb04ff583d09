"""Several Celery worker processes on real Redis, sending over SMTP to a loopback capture server.

Exactly once per recipient with three workers; pause and resume across processes; a worker
killed with SIGKILL in the middle of a batch (nothing lost, at most one duplicate); 4xx then
recovery; 5xx and suppression. The capture server is aiosmtpd (see ``Recorder`` in conftest).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.control import pause_issue, resume_issue
from newsletter.delivery.dispatch import CeleryDispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.jobs.celery_app import create_celery
from newsletter.jobs.tick import tick
from newsletter.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)
from tests.helpers.env import free_port
from tests.helpers.factories import NOW, delivery_counts, issue_with, review
from tests.helpers.smtp import Recorder
from tests.helpers.workers import start_worker, stop


class SlowRecorder(Recorder):
    """Takes ``delay`` seconds per message, so that a send lasts long enough to steer."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.accept_busy = False

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("busy") and self.accept_busy:
            envelope.rcpt_tos.append(address)
            return "250 OK"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)

    def received(self) -> Counter[str]:
        return Counter(rcpt for _, rcpts, _ in self.messages for rcpt in rcpts)


@dataclass
class Fleet:
    settings: Settings
    recorder: SlowRecorder
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]
    dispatcher: CeleryDispatcher  # one Celery app per test process: tasks register once

    def log_tail(self) -> str:
        return "\n".join(p.read_text()[-1500:] for p in self.logs)


@pytest.fixture
def fleet_of(
    settings: Settings, redis_url: str, tmp_path: Path
) -> Iterator[Callable[[int, float], Fleet]]:
    redis.Redis.from_url(redis_url).flushdb()
    started: list[Fleet] = []
    controllers: list[Controller] = []

    def make(workers: int, delay: float) -> Fleet:
        recorder = SlowRecorder(delay)
        port = free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        config = settings.with_overrides(
            broker_url=redis_url, smtp_url=f"smtp://127.0.0.1:{port}", batch_size=10
        )
        logs = [tmp_path / f"worker{n}.log" for n in range(workers)]
        processes = [start_worker(config, f"w{n}", log) for n, log in enumerate(logs)]
        fleet = Fleet(config, recorder, processes, logs, CeleryDispatcher(create_celery(config)))
        started.append(fleet)
        return fleet

    yield make
    for fleet in started:
        stop(fleet.processes)
    for controller in controllers:
        controller.stop()


def _send(factory: sessionmaker[Session], fleet: Fleet, emails: list[str]) -> int:
    issue_id = issue_with(factory, fleet.settings, [review("a", "Film")], emails)
    send_issue(factory, fleet.settings, issue_id, fleet.dispatcher, NOW)
    return issue_id


def _wait(check: Callable[[], bool], fleet: Fleet, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail("timed out; worker logs:\n" + fleet.log_tail())


def _status(factory: sessionmaker[Session], issue_id: int) -> IssueStatus:
    with factory() as session:
        return session.get_one(Issue, issue_id).status


def test_three_workers_deliver_every_recipient_exactly_once(
    fleet_of: Callable[[int, float], Fleet], factory: sessionmaker[Session]
) -> None:
    fleet = fleet_of(3, 0.0)
    emails = [f"reader{i:03d}@example.com" for i in range(240)]
    issue_id = _send(factory, fleet, emails)
    _wait(lambda: _status(factory, issue_id) is IssueStatus.SENT, fleet)
    received = fleet.recorder.received()
    assert sorted(received) == emails and set(received.values()) == {1}
    assert delivery_counts(factory, issue_id) == {DeliveryState.SENT: len(emails)}
    busy = [p for p in fleet.logs if "newsletter.deliver_batch" in p.read_text()]
    assert len(busy) >= 2, fleet.log_tail()  # the work was shared


def test_pause_and_resume_across_worker_processes(
    fleet_of: Callable[[int, float], Fleet], factory: sessionmaker[Session]
) -> None:
    fleet = fleet_of(2, 0.03)
    emails = [f"reader{i:03d}@example.com" for i in range(200)]
    issue_id = _send(factory, fleet, emails)
    _wait(lambda: len(fleet.recorder.messages) >= 30, fleet)
    with transaction(factory) as session:
        pause_issue(session, issue_id, utcnow(), "paused by an operator")
    time.sleep(2.0)  # the promise: every worker stops within 2 s
    settled = len(fleet.recorder.messages)
    time.sleep(1.0)
    assert len(fleet.recorder.messages) == settled < len(emails)
    counts = delivery_counts(factory, issue_id)
    assert counts.get(DeliveryState.SENDING, 0) == 0
    assert counts[DeliveryState.SENT] == settled
    resume_issue(
        factory,
        fleet.settings,
        issue_id,
        fleet.dispatcher,
        utcnow(),
    )
    _wait(lambda: _status(factory, issue_id) is IssueStatus.SENT, fleet)
    received = fleet.recorder.received()
    assert sorted(received) == emails and set(received.values()) == {1}


def test_a_worker_killed_mid_batch_loses_nobody_and_doubles_at_most_one(
    fleet_of: Callable[[int, float], Fleet], factory: sessionmaker[Session]
) -> None:
    fleet = fleet_of(2, 0.02)
    emails = [f"reader{i:03d}@example.com" for i in range(160)]
    issue_id = _send(factory, fleet, emails)
    _wait(lambda: len(fleet.recorder.messages) >= 40, fleet)
    victim = fleet.processes[0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    # The survivor finishes what is queued; the victim's claimed rows wait for their lease.
    _wait(lambda: delivery_counts(factory, issue_id).get(DeliveryState.QUEUED, 0) == 0, fleet)
    _wait(lambda: not fleet.recorder.messages or _quiet(fleet), fleet)
    orphans = delivery_counts(factory, issue_id).get(DeliveryState.SENDING, 0)
    # Ten minutes later, as far as the leases know: the tick hands the orphans to a worker.
    with transaction(factory) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.state == DeliveryState.SENDING)
            .values(lease_until=utcnow())
        )
    report = tick(factory, fleet.settings, fleet.dispatcher, utcnow())
    if orphans:
        assert report.redispatched == {issue_id: 1}
    _wait(lambda: _status(factory, issue_id) is IssueStatus.SENT, fleet)
    received = fleet.recorder.received()
    assert sorted(received) == emails  # nobody lost
    assert sum(received.values()) - len(emails) <= 1  # one duplicate per killed process


def _quiet(fleet: Fleet) -> bool:
    before = len(fleet.recorder.messages)
    time.sleep(0.5)
    return len(fleet.recorder.messages) == before


def test_4xx_then_recovery_and_5xx_suppression(
    fleet_of: Callable[[int, float], Fleet], factory: sessionmaker[Session]
) -> None:
    fleet = fleet_of(1, 0.0)
    emails = [f"reader{i}@example.com" for i in range(8)]
    emails += ["busy1@example.com", "busy2@example.com", "nobody@example.com"]
    issue_id = _send(factory, fleet, emails)
    _wait(lambda: delivery_counts(factory, issue_id).get(DeliveryState.SENT, 0) == 8, fleet)
    _wait(lambda: delivery_counts(factory, issue_id).get(DeliveryState.FAILED, 0) == 1, fleet)
    with factory() as session:
        nobody = session.scalars(
            select(Subscriber).where(Subscriber.email == "nobody@example.com")
        ).one()
        assert nobody.status is SubscriberStatus.BOUNCED
        suppressed = session.scalars(select(Suppression.email_key)).all()
        assert suppressed == ["nobody@example.com"]
    assert delivery_counts(factory, issue_id)[DeliveryState.QUEUED] == 2  # busy: retry later
    fleet.recorder.accept_busy = True
    with transaction(factory) as session:  # their backoff has passed
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.state == DeliveryState.QUEUED)
            .values(next_at=utcnow())
        )
    tick(factory, fleet.settings, fleet.dispatcher, utcnow())
    _wait(lambda: _status(factory, issue_id) is IssueStatus.SENT, fleet)
    received = fleet.recorder.received()
    assert received["busy1@example.com"] == received["busy2@example.com"] == 1
    assert "nobody@example.com" not in received
