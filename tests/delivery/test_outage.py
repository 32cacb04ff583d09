"""The SMTP server failing every message (newsletter.delivery.outage): the worker keeps the
message in hand and tries it again, spends no reader's attempt, tells the readers deferred in
a streak from the server's trouble, pauses the issue with the reason once the outage outlasts
NEWSLETTER_SMTP_OUTAGE_PAUSE, and leaves a record that ``issue status`` shows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.dispatch import InlineDispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.delivery.progress import issue_progress
from newsletter.delivery.sender import Sender
from newsletter.mail.replies import Stage, Verdict
from newsletter.mail.smtp import SmtpTransport
from newsletter.mail.transport import (
    DeliveryError,
    Envelope,
    PermanentFailure,
    Ready,
    TemporaryFailure,
)
from newsletter.models import Delivery, DeliveryState, Suppression, utcnow
from tests.helpers.env import free_port
from tests.helpers.factories import delivery_counts, issue_with, review

READERS = 12


class Failing:
    """Fails the calls that ``failing(n)`` picks (n counts every call from 0) with ``failure``;
    accepts the others and counts them per recipient."""

    def __init__(self, failure: DeliveryError, failing: Callable[[int, str], bool]) -> None:
        self.failure = failure
        self.failing = failing
        self.calls = 0
        self.received: Counter[str] = Counter()

    def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None:
        call, self.calls = self.calls, self.calls + 1
        if self.failing(call, envelope.rcpt_to):
            raise self.failure
        if ready is not None:
            ready()
        self.received[envelope.rcpt_to] += 1

    def close(self) -> None:
        pass


@pytest.fixture
def quick(settings: Settings) -> Settings:
    return settings.with_overrides(batch_size=READERS, smtp_outage_pause=30)


def _send(factory: sessionmaker[Session], settings: Settings, transport: object) -> Sender:
    sender = Sender(factory, settings, transport, worker_id="w1")  # type: ignore[arg-type]
    sender.outage.waits = (0.01,)
    return sender


def _start(factory: sessionmaker[Session], settings: Settings) -> tuple[int, list[str]]:
    emails = [f"r{n:02d}@example.com" for n in range(READERS)]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    send_issue(factory, settings, issue_id, InlineDispatcher(lambda _i: 0), utcnow())
    return issue_id, emails


def _drain(sender: Sender, issue_id: int) -> None:
    while sender.run_batch(issue_id).claimed:
        pass


def _attempts(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session:
        return list(session.scalars(select(Delivery.attempts).order_by(Delivery.id)))


def test_a_421_holds_the_message_and_sends_it_once_the_server_is_back(
    factory: sessionmaker[Session], quick: Settings
) -> None:
    issue_id, emails = _start(factory, quick)
    failure = TemporaryFailure("greeting: 421 4.3.2 shutting down", 421)
    transport = Failing(failure, lambda call, _to: 3 <= call < 7)
    _drain(_send(factory, quick, transport), issue_id)
    assert transport.received == Counter(emails)  # everyone once, in one batch
    assert _attempts(factory) == [1] * READERS  # the four tries cost the reader nothing
    with factory() as session:
        progress = issue_progress(session, issue_id)
    assert progress.status == "sent"
    (note,) = progress.outages
    assert (note.tries, note.ended, note.replies) == (4, "recovered", (failure.reason,))
    assert note.seconds is not None and note.seconds < 5


def test_three_readers_deferred_in_a_row_are_the_server_deferring(
    factory: sessionmaker[Session], quick: Settings
) -> None:
    issue_id, emails = _start(factory, quick)
    failure = TemporaryFailure("RCPT TO: 451 4.3.0 try later", 451, stage=Stage.RCPT)
    transport = Failing(failure, lambda call, _to: 2 <= call < 8)
    sender = _send(factory, quick, transport)
    sender.run_batch(issue_id)
    # The first two deferred readers went back to the queue, then were given back at once
    # when the third made it the server's trouble; the third was held and sent in the batch.
    with factory() as session:
        waiting = session.execute(
            select(Delivery.attempts, Delivery.next_at).where(
                Delivery.state == DeliveryState.QUEUED
            )
        ).all()
    assert len(waiting) == 2
    now = utcnow()
    assert all(
        attempts == 0 and next_at is not None and next_at <= now for attempts, next_at in waiting
    )
    _drain(sender, issue_id)
    assert transport.received == Counter(emails)
    assert delivery_counts(factory, issue_id) == {DeliveryState.SENT: READERS}


def test_two_readers_deferred_are_their_own_business(
    factory: sessionmaker[Session], quick: Settings
) -> None:
    issue_id, emails = _start(factory, quick)
    failure = TemporaryFailure("RCPT TO: 450 4.2.1 mailbox busy", 450, stage=Stage.RCPT)
    busy = {emails[3], emails[7]}
    transport = Failing(failure, lambda _call, to: to in busy)
    _drain(_send(factory, quick, transport), issue_id)
    with factory() as session:
        progress = issue_progress(session, issue_id)
        waiting = session.execute(
            select(Delivery.attempts, Delivery.next_at).where(
                Delivery.state == DeliveryState.QUEUED
            )
        ).all()
    assert progress.outages == ()
    assert progress.counts["queued"] == 2 and progress.counts["sent"] == READERS - 2
    # their own backoff: five minutes away, one attempt spent
    later = utcnow() + timedelta(minutes=4)
    assert all(a == 1 and n is not None and n > later for a, n in waiting)


def test_an_outage_longer_than_the_setting_pauses_the_issue_and_says_why(
    factory: sessionmaker[Session], quick: Settings
) -> None:
    closed = free_port()  # nothing listens: every connection is refused
    settings = quick.with_overrides(
        smtp_outage_pause=0.3, smtp_url=f"smtp://127.0.0.1:{closed}?timeout=2"
    )
    issue_id, _ = _start(factory, settings)
    transport = SmtpTransport(settings.smtp)  # type: ignore[arg-type]
    sender = _send(factory, settings, transport)
    sender.outage.waits = (0.05,)
    _drain(sender, issue_id)
    with factory() as session:
        progress = issue_progress(session, issue_id)
    assert progress.status == "paused"
    assert progress.status_reason is not None
    assert re.fullmatch(
        rf"paused: the SMTP server failed every message for \d+ s \(\d+ tries\); "
        rf"last: connect to 127\.0\.0\.1:{closed}: .*refused.*",
        progress.status_reason,
    ), progress.status_reason
    assert progress.counts["queued"] == READERS  # nobody lost, nobody charged an attempt
    assert _attempts(factory) == [0] * READERS
    (note,) = progress.outages
    assert note.ended == "paused" and note.tries >= 2


def test_a_relay_refusing_our_return_path_pauses_the_issue_at_once(
    factory: sessionmaker[Session], quick: Settings
) -> None:
    """550 to MAIL FROM says nothing of any reader: failing them one after the other would
    lose the whole list for this issue ('retry failed' never retries a permanent refusal)."""
    issue_id, _ = _start(factory, quick)
    reply = "MAIL FROM: 550 5.7.1 sender address not allowed"
    failure = PermanentFailure(reply, 550, verdict=Verdict.POLICY, stage=Stage.MAIL)
    transport = Failing(failure, lambda call, _to: call >= 4)
    _drain(_send(factory, quick, transport), issue_id)
    with factory() as session:
        progress = issue_progress(session, issue_id)
        suppressed = session.scalar(select(func.count()).select_from(Suppression))
    assert progress.status == "paused"
    assert progress.status_reason == f"paused: every message would be refused: {reply}"
    assert (progress.counts["sent"], progress.counts["queued"]) == (4, READERS - 4)
    assert progress.counts["failed"] == 0 and suppressed == 0
    assert _attempts(factory)[4:] == [0] * (READERS - 4)
