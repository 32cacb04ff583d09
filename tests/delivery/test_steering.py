"""Pause, resume and cancel mid-send across concurrent workers (an issue pausing itself when
the SMTP server fails everyone: test_outage.py).

Two workers (threads here, each with its own Sender, as two worker processes would have) send
through a slow transport; the operator's pause or cancel is a committed status change that
each worker notices between messages.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.control import cancel_issue, pause_issue, resume_issue
from newsletter.delivery.dispatch import InlineDispatcher
from newsletter.delivery.fanout import send_issue, start_send
from newsletter.delivery.progress import issue_progress
from newsletter.delivery.sender import Sender
from newsletter.errors import WorkError
from newsletter.mail.transport import Envelope, Ready, TemporaryFailure
from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus, Subscriber, utcnow
from newsletter.subscribers.consent import unsubscribe
from tests.helpers.factories import NOW, delivery_counts, issue_with, review

RECIPIENTS = 60


class SlowTransport:
    """Accepts every message after a short wait; thread-safe; counts per recipient."""

    def __init__(self, delay: float = 0.02, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.lock = threading.Lock()
        self.times: list[float] = []
        self.received: Counter[str] = Counter()

    def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None:
        if ready is not None:
            ready()
        time.sleep(self.delay)
        if self.fail:
            raise TemporaryFailure("421 4.7.0 try again later", 421)
        with self.lock:
            self.received[envelope.rcpt_to] += 1
            self.times.append(time.monotonic())

    def close(self) -> None:
        pass


@pytest.fixture
def small(settings: Settings) -> Settings:
    return settings.with_overrides(batch_size=10)


@pytest.fixture
def sending(factory: sessionmaker[Session], small: Settings) -> int:
    emails = [f"r{i:03d}@example.com" for i in range(RECIPIENTS)]
    issue_id = issue_with(factory, small, [review("a", "Film")], emails)
    send_issue(factory, small, issue_id, InlineDispatcher(lambda _i: 0), utcnow())
    return issue_id


def _workers(
    factory: sessionmaker[Session], settings: Settings, issue_id: int, transport: SlowTransport
) -> list[threading.Thread]:
    def work(name: str) -> None:
        sender = Sender(factory, settings, transport, worker_id=name)
        while sender.run_batch(issue_id).claimed:
            pass

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    return threads


def _wait_for(transport: SlowTransport, count: int) -> None:
    deadline = time.monotonic() + 20
    while len(transport.times) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_pause_stops_every_worker_within_2_s_and_resume_skips_and_repeats_nobody(
    factory: sessionmaker[Session], small: Settings, sending: int
) -> None:
    transport = SlowTransport()
    threads = _workers(factory, small, sending, transport)
    _wait_for(transport, 10)
    with transaction(factory) as session:
        pause_issue(session, sending, utcnow(), "paused by an operator")
    paused_at = time.monotonic()
    for thread in threads:
        thread.join(timeout=10)
    after = [t for t in transport.times if t > paused_at]
    assert not after or max(after) - paused_at < 2.0
    sent_while_running = sum(transport.received.values())
    assert 10 <= sent_while_running < RECIPIENTS
    states = delivery_counts(factory, sending)
    assert states == {
        DeliveryState.SENT: sent_while_running,
        DeliveryState.QUEUED: RECIPIENTS - sent_while_running,
    }
    with factory() as session:  # released rows did not use up an attempt
        attempts = session.scalars(
            select(Delivery.attempts).where(Delivery.state == DeliveryState.QUEUED)
        ).all()
    assert set(attempts) == {0}

    resume_transport = SlowTransport(delay=0)
    resumer = Sender(factory, small, resume_transport, worker_id="w3")
    resume_issue(
        factory, small, sending, InlineDispatcher(lambda i: resumer.run_batch(i).claimed), utcnow()
    )
    everyone = transport.received + resume_transport.received
    assert len(everyone) == RECIPIENTS and set(everyone.values()) == {1}
    with factory() as session:
        issue = session.get(Issue, sending)
        assert issue is not None and issue.status is IssueStatus.SENT


def test_cancel_mid_send_stops_for_good(
    factory: sessionmaker[Session], small: Settings, sending: int
) -> None:
    transport = SlowTransport()
    threads = _workers(factory, small, sending, transport)
    _wait_for(transport, 10)
    with transaction(factory) as session:
        cancel_issue(session, sending, utcnow())
    cancelled_at = time.monotonic()
    for thread in threads:
        thread.join(timeout=10)
    assert all(t - cancelled_at < 2.0 for t in transport.times if t > cancelled_at)
    sent = sum(transport.received.values())
    assert set(transport.received.values()) == {1}
    assert delivery_counts(factory, sending) == {
        DeliveryState.SENT: sent,
        DeliveryState.CANCELLED: RECIPIENTS - sent,
    }
    late = Sender(factory, small, SlowTransport(delay=0), worker_id="w9").run_batch(sending)
    assert late.claimed == 0
    with pytest.raises(WorkError, match="is cancelled: only a paused issue resumes"):
        resume_issue(factory, small, sending, InlineDispatcher(lambda _i: 0), utcnow())


def test_steering_refuses_what_makes_no_sense(
    factory: sessionmaker[Session], small: Settings, sending: int
) -> None:
    with transaction(factory) as session:
        pause_issue(session, sending, utcnow(), "x")
    refused = pytest.raises(WorkError, match="is paused: only a sending issue pauses")
    with refused, transaction(factory) as session:
        pause_issue(session, sending, utcnow(), "x")
    with transaction(factory) as session:
        cancel_issue(session, sending, utcnow())
    refused = pytest.raises(WorkError, match="is cancelled: nothing to cancel")
    with refused, transaction(factory) as session:
        cancel_issue(session, sending, utcnow())


def test_sending_to_nobody_keeps_the_draft(factory: sessionmaker[Session], small: Settings) -> None:
    issue_id = issue_with(factory, small, [review("a", "Film")], [])
    with pytest.raises(WorkError, match="no eligible subscribers"):
        send_issue(factory, small, issue_id, InlineDispatcher(lambda _i: 0), NOW)
    with factory() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None and issue.status is IssueStatus.DRAFT


def test_every_message_takes_a_permit_for_its_domain_first(
    factory: sessionmaker[Session], small: Settings, sending: int
) -> None:
    taken: list[str] = []

    class Recording:
        def acquire(self, domain: str) -> None:
            taken.append(domain)

        def close(self) -> None:
            pass

    sender = Sender(factory, small, SlowTransport(delay=0), worker_id="w1", limiter=Recording())
    while sender.run_batch(sending).claimed:
        pass
    assert taken == ["example.com"] * RECIPIENTS


def test_send_rate_settings_choose_the_limiter(settings: Settings) -> None:
    from newsletter.delivery.ratelimit import (
        LocalRateLimiter,
        NoLimit,
        RedisRateLimiter,
        make_limiter,
    )

    assert isinstance(make_limiter(settings.limiter_url, None, None), NoLimit)
    local = settings.with_overrides(send_rate=50.0)
    assert isinstance(make_limiter(local.limiter_url, local.send_rate, None), LocalRateLimiter)
    shared = settings.with_overrides(send_rate=50.0, broker_url="redis://127.0.0.1:6379/15")
    assert shared.limiter_url == "redis://127.0.0.1:6379/15"
    limiter = make_limiter(shared.limiter_url, shared.send_rate, None)
    assert isinstance(limiter, RedisRateLimiter)
    limiter.close()
    rabbit = settings.with_overrides(broker_url="amqp://guest@localhost//", redis_url="redis://h/1")
    assert rabbit.limiter_url == "redis://h/1"


def test_the_rate_counts_the_time_the_send_has_run_not_a_whole_minute(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    """28 messages in the first 4 s are 7 msg/s: the ETA of a young send is not 15x too long."""
    emails = [f"r{n}@example.com" for n in range(40)]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
        ids = session.scalars(
            select(Delivery.id).where(Delivery.issue_id == issue_id).order_by(Delivery.id)
        ).all()
        now = utcnow()
        for n, delivery_id in enumerate(ids[:28]):
            row = session.get_one(Delivery, delivery_id)
            row.state, row.sent_at = DeliveryState.SENT, now - timedelta(seconds=4 - n / 7)
    with factory() as session:
        progress = issue_progress(session, issue_id)
    assert 6.0 <= progress.rate <= 7.5
    assert progress.eta_seconds is not None and progress.eta_seconds < 3


def test_a_reader_unsubscribed_mid_batch_gets_nothing_more_within_a_second(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    """The batch claimed every row before the unsubscribe; it looks again every second."""
    whole = settings.with_overrides(batch_size=RECIPIENTS)
    emails = [f"r{i:03d}@example.com" for i in range(RECIPIENTS)]
    issue_id = issue_with(factory, whole, [review("a", "Film")], emails)
    send_issue(factory, whole, issue_id, InlineDispatcher(lambda _i: 0), utcnow())
    transport = SlowTransport(delay=0.05)  # 3 s for the batch
    sender = Sender(factory, whole, transport, worker_id="w1")
    batch = threading.Thread(target=sender.run_batch, args=(issue_id,))
    batch.start()
    _wait_for(transport, 5)
    with transaction(factory) as session:
        leaving = session.scalars(select(Subscriber).where(Subscriber.email == emails[40])).one()
        unsubscribe(session, leaving, utcnow(), how="one-click", issue_id=issue_id)
    unsubscribed_at = time.monotonic()
    batch.join(timeout=30)
    assert emails[40] not in transport.received
    assert sorted(transport.received) == sorted(set(emails) - {emails[40]})
    assert max(transport.times) > unsubscribed_at + 1  # the batch went on after it
    with factory() as session:
        state = session.scalar(select(Delivery.state).where(Delivery.subscriber_id == leaving.id))
    assert state is DeliveryState.SKIPPED
