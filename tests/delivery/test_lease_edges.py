"""Edges of the lease found in review: a long wait for the shared send rate is not a hung
transaction, an outcome whose claim was released meanwhile is still recorded, a release gives
the claim's attempt back, and the minute tick hands back rows that no Celery worker will.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.claim import claim_batch
from newsletter.delivery.control import cancel_issue
from newsletter.delivery.fanout import start_send
from newsletter.delivery.lease import orphaned, release_stranded
from newsletter.delivery.outcomes import OutcomeLog
from newsletter.delivery.sender import Sender
from newsletter.jobs.tick import tick
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Delivery, DeliveryState, Issue, utcnow
from tests.helpers.factories import NOW, delivery_counts, issue_with, review


def _issue(factory: sessionmaker[Session], settings: Settings, count: int) -> int:
    emails = [f"r{i:02d}@example.com" for i in range(count)]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    return issue_id


class Recorded:
    """A dispatcher that only remembers what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def dispatch(self, issue_id: int, batches: int) -> None:
        self.calls.append((issue_id, batches))


class SlowRate:
    """A shared rate that makes the second message wait ``wait`` seconds."""

    def __init__(self, wait: float) -> None:
        self.wait, self.calls = wait, 0

    def acquire(self, domain: str) -> None:
        self.calls += 1
        if self.calls == 2:
            time.sleep(self.wait)

    def close(self) -> None:
        pass


def test_a_long_wait_for_the_send_rate_keeps_the_claim_and_records_the_previous_outcome(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    config = settings.with_overrides(delivery_lease=0.6, batch_size=50)
    issue_id = _issue(factory, config, 3)
    transport = MemoryTransport()
    sender = Sender(factory, config, transport, worker_id="patient", limiter=SlowRate(2.5))
    sender.stall_after = 0.8  # a transaction in flight this long would count as hung
    batch = threading.Thread(target=sender.run_batch, args=(issue_id,))
    batch.start()
    time.sleep(1.2)  # inside the rate wait, well past stall_after and the lease
    counts = delivery_counts(factory, issue_id)
    with transaction(factory) as session:
        released = release_stranded(session, utcnow())
    batch.join()
    assert counts.get(DeliveryState.SENT) == 1  # r00 recorded before the wait began
    assert released == {}  # the heartbeat kept renewing through the wait
    assert Counter(transport.recipients) == {f"r{i:02d}@example.com": 1 for i in range(3)}
    assert delivery_counts(factory, issue_id) == {DeliveryState.SENT: 3}


def test_an_outcome_lands_on_a_row_released_meanwhile_but_not_on_one_taken_since(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = _issue(factory, settings, 2)
    lease = timedelta(seconds=15)
    with transaction(factory) as session:
        claim = claim_batch(session, issue_id, NOW, "first", 50, lease)
    assert claim is not None and len(claim.ids) == 2
    later = NOW + timedelta(minutes=1)
    with transaction(factory) as session:  # a long lock wait: the lease ran out, released
        assert release_stranded(session, later) == {issue_id: 2}
    with transaction(factory) as session:  # another batch takes one of the two
        again = claim_batch(session, issue_id, later, "second", 1, lease)
    assert again is not None and len(again.ids) == 1
    taken = again.ids[0]
    free = next(i for i in claim.ids if i != taken)
    with OutcomeLog(factory.kw["bind"], claim.token, sync_every=1) as log:
        log.stage(free, DeliveryState.SENT, None, later)
        log.stage(taken, DeliveryState.SENT, None, later)
    with factory() as session:
        states = dict(session.execute(select(Delivery.id, Delivery.state)).all())
        attempts = dict(session.execute(select(Delivery.id, Delivery.attempts)).all())
    assert states[free] is DeliveryState.SENT  # recorded: nobody will send it again
    assert states[taken] is DeliveryState.SENDING  # the second batch's now: not overwritten
    assert attempts[free] == 0  # the release gave the first claim's attempt back


def test_the_tick_hands_back_a_cancelled_issues_stranded_rows(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    """No Celery worker runs (cron's tick only): a holder died after a cancel that could not
    touch its live rows; the tick cancels them instead of leaving them `sending` for good."""
    issue_id = _issue(factory, settings, 3)
    with transaction(factory) as session:
        claim = claim_batch(session, issue_id, NOW, "dead", 50, timedelta(seconds=15))
        assert claim is not None
    with transaction(factory) as session:
        cancel_issue(session, issue_id, NOW)
    assert delivery_counts(factory, issue_id) == {DeliveryState.SENDING: 3}
    with transaction(factory) as session:
        session.execute(update(Delivery).values(lease_until=NOW - timedelta(seconds=1)))
    tick(factory, settings, Recorded(), NOW + timedelta(days=3))
    assert delivery_counts(factory, issue_id) == {DeliveryState.CANCELLED: 3}


def test_rows_whose_task_was_lost_are_found_once_nothing_moves(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    """A worker killed after taking a batch task and before claiming leaves fresh rows with
    no task (the task waits out the broker's visibility timeout): an idle worker finds them
    once nothing of the issue is held and nothing was sent for a lease."""
    issue_id = _issue(factory, settings, 3)
    quiet = timedelta(seconds=15)
    with transaction(factory) as session:
        session.execute(update(Issue).values(updated_at=NOW))
    with factory() as session:
        assert orphaned(session, NOW + timedelta(seconds=5), quiet) == {}  # too soon to say
        assert orphaned(session, NOW + timedelta(seconds=20), quiet) == {issue_id: 3}
    with transaction(factory) as session:  # a live batch holds one row: not orphaned
        claim = claim_batch(session, issue_id, NOW, "live", 1, quiet)
        assert claim is not None
    with factory() as session:
        assert orphaned(session, NOW + timedelta(seconds=20), quiet) == {}
