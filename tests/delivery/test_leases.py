"""Short leases kept alive by a heartbeat: a slow live batch keeps its rows, a dead or hung one
loses them within a lease, a stop hands them back at once, and status names what is stalled.

Against the real database (SQLite, or PostgreSQL with ``NEWSLETTER_TEST_DATABASE_URL``), with the
in-memory transport made slow where the test needs time to pass.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from click.testing import Result
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.claim import claim_batch
from newsletter.delivery.control import cancel_issue
from newsletter.delivery.fanout import start_send
from newsletter.delivery.lease import release_stranded
from newsletter.delivery.progress import issue_progress
from newsletter.delivery.sender import Sender
from newsletter.mail.memory import MemoryTransport
from newsletter.mail.transport import Envelope, Ready
from newsletter.models import Delivery, DeliveryState, utcnow
from tests.helpers.factories import NOW, delivery_counts, issue_with, review


class Slow(MemoryTransport):
    """Takes ``delay`` seconds per message; ``on_send(n)`` runs before the n-th (from 0)."""

    def __init__(self, delay: float, on_send: dict[int, object] | None = None) -> None:
        super().__init__()
        self.delay = delay
        self.on_send = on_send or {}
        self.calls = 0

    def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None:
        hook = self.on_send.get(self.calls)
        self.calls += 1
        if callable(hook):
            hook()
        time.sleep(self.delay)
        super().send(envelope, message, ready)


def _issue(factory: sessionmaker[Session], settings: Settings, count: int) -> int:
    emails = [f"r{i:02d}@example.com" for i in range(count)]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    return issue_id


def _sending(factory: sessionmaker[Session], issue_id: int) -> int:
    return delivery_counts(factory, issue_id).get(DeliveryState.SENDING, 0)


def test_a_batch_slower_than_its_lease_keeps_every_row(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    # Each message takes longer than the whole lease: only the heartbeat keeps the claim.
    config = settings.with_overrides(delivery_lease=0.6, batch_size=50)
    issue_id = _issue(factory, config, 4)
    slow_transport = Slow(0.8)
    slow = Sender(factory, config, slow_transport, worker_id="slow")
    thief_transport = MemoryTransport()
    thief = Sender(factory, config, thief_transport, worker_id="thief")
    batch = threading.Thread(target=slow.run_batch, args=(issue_id,))
    batch.start()
    while not _sending(factory, issue_id):  # the slow batch has claimed every row
        time.sleep(0.01)
    stolen = 0
    while batch.is_alive():  # another worker and an idle worker's look, all the while
        with transaction(factory) as session:
            stolen += sum(release_stranded(session, utcnow()).values())
        thief.run_batch(issue_id)
        time.sleep(0.05)
    batch.join()
    assert stolen == 0 and thief_transport.sent == []
    assert sorted(slow_transport.recipients) == [f"r{i:02d}@example.com" for i in range(4)]
    assert delivery_counts(factory, issue_id) == {DeliveryState.SENT: 4}


def test_a_hung_batch_loses_its_rows_and_sends_nothing_after(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    config = settings.with_overrides(delivery_lease=0.6, batch_size=50)
    issue_id = _issue(factory, config, 5)
    hung_transport = Slow(0.0, {1: lambda: time.sleep(2.5)})
    hung = Sender(factory, config, hung_transport, worker_id="hung")
    hung.stall_after = 0.8  # one message in flight longer than this: taken for hung
    rescuer_transport = MemoryTransport()
    rescuer = Sender(factory, config, rescuer_transport, worker_id="rescuer")
    batch = threading.Thread(target=hung.run_batch, args=(issue_id,))
    batch.start()
    released: dict[int, int] = {}
    deadline = time.monotonic() + 10
    while not released and time.monotonic() < deadline:
        time.sleep(0.1)
        with transaction(factory) as session:
            released = release_stranded(session, utcnow())
    # r00 was sent but its outcome waits for r01's envelope (pipelining); r01 hangs before
    # its envelope; all five go to other workers
    assert released == {issue_id: 5}
    while rescuer.run_batch(issue_id).claimed:
        pass
    batch.join()
    received = Counter(hung_transport.recipients + rescuer_transport.recipients)
    assert sorted(received) == [f"r{i:02d}@example.com" for i in range(5)]
    # r00, whose outcome was not yet written, is the one duplicate allowed; r01's content
    # never left the hung batch once it woke up without its lease
    assert sum(received.values()) - 5 <= 1
    assert hung_transport.recipients == ["r00@example.com"]
    assert delivery_counts(factory, issue_id) == {DeliveryState.SENT: 5}


def test_a_stop_hands_the_unsent_rows_back_at_once(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    config = settings.with_overrides(batch_size=50)
    issue_id = _issue(factory, config, 6)
    sender = Sender(factory, config, MemoryTransport(), worker_id="w")
    sender.transport = Slow(0.0, {2: sender.request_stop})
    result = sender.run_batch(issue_id)
    # the message in flight when asked (the third) is finished and recorded
    assert (result.claimed, result.sent, result.handed_back) == (6, 3, 3)
    assert delivery_counts(factory, issue_id) == {DeliveryState.SENT: 3, DeliveryState.QUEUED: 3}
    with factory() as session:
        queued = session.execute(
            select(Delivery.attempts, Delivery.claimed_by, Delivery.lease_until).where(
                Delivery.state == DeliveryState.QUEUED
            )
        ).all()
    assert set(queued) == {(0, None, None)}  # untried: the claim is not an attempt
    assert sender.run_batch(issue_id).claimed == 0  # a stopping sender takes no more


def test_stranded_rows_go_back_once_and_follow_their_issue(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    config = settings.with_overrides(batch_size=3)
    sending = _issue(factory, config, 5)
    with transaction(factory) as session:
        claim_batch(session, sending, NOW, "dead:1", 3, timedelta(seconds=15))
        claim_batch(session, sending, NOW, "alive:2", 3, timedelta(hours=1))
    later = NOW + timedelta(seconds=16)
    with transaction(factory) as session:
        assert release_stranded(session, later) == {sending: 3}
    with transaction(factory) as session:
        assert release_stranded(session, later) == {}  # each row is released by one caller
    counts = delivery_counts(factory, sending)
    assert counts == {DeliveryState.QUEUED: 3, DeliveryState.SENDING: 2}
    with factory() as session:
        due = session.scalars(
            select(Delivery.next_at).where(Delivery.state == DeliveryState.QUEUED)
        ).all()
    assert due == [NOW + timedelta(seconds=16)] * 3  # due now: first in the next claim
    # a dead worker's rows of an issue cancelled meanwhile are cancelled, not queued
    with transaction(factory) as session:
        cancel_issue(session, sending, later)
    with transaction(factory) as session:
        assert release_stranded(session, NOW + timedelta(hours=2)) == {}
    assert delivery_counts(factory, sending) == {DeliveryState.CANCELLED: 5}


def test_status_names_rows_of_a_worker_that_stopped_renewing(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = _issue(factory, settings, 4)
    lease = timedelta(seconds=15)
    now = utcnow()
    with transaction(factory) as session:
        claim_batch(session, issue_id, now - timedelta(seconds=12), "host-a:41", 2, lease)
        claim_batch(session, issue_id, now, "host-b:42", 1, lease)  # alive: renewed just now
        session.execute(
            update(Delivery)
            .where(Delivery.state == DeliveryState.QUEUED)
            .values(state=DeliveryState.SENT, sent_at=now)
        )
    with factory() as session:
        progress = issue_progress(session, issue_id, lease)
    stalled = progress.stalled
    assert stalled is not None
    assert (stalled.rows, stalled.holders) == (2, ("host-a:41",))
    assert abs((stalled.since - (now - timedelta(seconds=12))).total_seconds()) < 1
    assert progress.rate > 0 and progress.remaining == 3
    assert progress.eta_seconds is None  # no estimate that ignores stalled rows


def test_issue_status_says_who_stopped_renewing_and_gives_no_eta(
    factory: sessionmaker[Session], settings: Settings, cli: Callable[..., Result]
) -> None:
    issue_id = _issue(factory, settings, 3)
    now = utcnow()
    with transaction(factory) as session:  # a worker that died 20 s ago, after one message
        claim_batch(session, issue_id, now - timedelta(seconds=20), "host-a:41", 2)
        session.execute(
            update(Delivery)
            .where(Delivery.state == DeliveryState.QUEUED)
            .values(state=DeliveryState.SENT, sent_at=now - timedelta(seconds=1))
        )
    shown = cli("issue", "status", str(issue_id)).stdout
    assert re.search(r"  stalled    2 held by host-a:41, which stopped renewing 2\d s ago", shown)
    assert "their lease ran out: an idle worker takes them within seconds" in shown
    assert "no estimate while rows are stalled" in shown and "to go" not in shown
