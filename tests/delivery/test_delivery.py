"""Fan-out and batch sending against the database, with the in-memory test transport."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.personalize import Recipient
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery import lease
from newsletter.delivery.attempts import MAX_ATTEMPTS
from newsletter.delivery.dispatch import InlineDispatcher
from newsletter.delivery.fanout import send_issue, start_send
from newsletter.delivery.sender import Sender
from newsletter.errors import WorkError
from newsletter.mail.memory import MemoryTransport
from newsletter.mail.replies import Stage, Verdict
from newsletter.mail.transport import (
    Envelope,
    PermanentFailure,
    Ready,
    TemporaryFailure,
    UnknownOutcome,
)
from newsletter.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueStatus,
    IssueVariant,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)
from newsletter.sections import mask_of
from tests.helpers.factories import NOW, issue_with, review, subscriber, suppress


def states(factory: sessionmaker[Session]) -> dict[str, str]:
    with factory() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.state).join(
                Delivery.__table__, Delivery.subscriber_id == Subscriber.id
            )
        )
        return {email: state.value for email, state in rows}


def sender(
    factory: sessionmaker[Session],
    settings: Settings,
    transport: MemoryTransport | None = None,
    worker: str = "w1",
) -> Sender:
    return Sender(factory, settings, transport or MemoryTransport(), worker_id=worker)


def drain(s: Sender, issue_id: int) -> None:
    InlineDispatcher(lambda i: s.run_batch(i).claimed).dispatch(issue_id, 1)


def test_fanout_creates_one_row_per_eligible_recipient(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(factory) as session:
        from newsletter.ingest.store import store_reviews

        store_reviews(session, [review("a", "Film"), review("b", "Anime")], now=NOW)
        subscriber(session, "all@example.com")
        subscriber(session, "film@example.com", picks=["Film", "Tabletop"])
        subscriber(session, "tabletop@example.com", picks=["Tabletop"])
        subscriber(session, "pending@example.com", status=SubscriberStatus.PENDING)
        subscriber(session, "gone@example.com", status=SubscriberStatus.UNSUBSCRIBED)
        subscriber(session, "suppressed@example.com")
        suppress(session, "suppressed@example.com")
    from newsletter.issues.build import build_issue

    with transaction(factory) as session:
        issue_id = build_issue(session, settings, now=NOW).issue_id
    with transaction(factory) as session:
        result = start_send(session, settings, issue_id, NOW)
    assert (result.recipients, result.variants, result.batches) == (2, 2, 1)
    with factory() as session:
        rows = {r.subscriber_id: r for r in session.scalars(select(Delivery))}
        emails = dict(session.execute(select(Subscriber.id, Subscriber.email)).all())
        assert sorted(emails[s] for s in rows) == ["all@example.com", "film@example.com"]
        by_email = {emails[s]: r for s, r in rows.items()}
        assert by_email["all@example.com"].variant_mask == 0
        assert by_email["film@example.com"].variant_mask == mask_of(["Film"])
        sid = next(s for s, e in emails.items() if e == "film@example.com")
        assert by_email["film@example.com"].message_id == (
            f"<nl.2026-W48.{issue_id}.{sid}@reviews.example.com>"
        )
        masks = session.scalars(select(IssueVariant.mask).where(IssueVariant.issue_id == issue_id))
        assert sorted(masks) == [0, mask_of(["Film"])]
        assert session.get_one(Issue, issue_id).status is IssueStatus.SENDING
    with pytest.raises(WorkError, match="is sending"), transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)


def test_every_recipient_once_then_the_issue_is_sent(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    emails = [f"r{i}@example.com" for i in range(7)]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    transport = MemoryTransport()
    s = sender(factory, settings.with_overrides(batch_size=3), transport)
    result = send_issue(
        factory,
        settings.with_overrides(batch_size=3),
        issue_id,
        InlineDispatcher(lambda i: s.run_batch(i).claimed),
        NOW,
    )
    assert result.batches == 3
    assert sorted(transport.recipients) == sorted(emails)
    assert set(states(factory).values()) == {"sent"}
    assert s.run_batch(issue_id).claimed == 0
    with factory() as session:
        issue = session.get_one(Issue, issue_id)
        assert issue.status is IssueStatus.SENT
        assert issue.sent_at is not None
    envelope, message = transport.sent[0]
    assert envelope.mail_from == "digest@reviews.example.com"
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in message


def test_temporary_failure_is_retried_later_with_backoff(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["ok@x.com", "slow@x.com"])
    later = TemporaryFailure("451 try later", 451, stage=Stage.RCPT)
    transport = MemoryTransport(failures={"slow@x.com": later})
    s = sender(factory, settings, transport)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    drain(s, issue_id)
    assert states(factory) == {"ok@x.com": "sent", "slow@x.com": "queued"}
    with factory() as session:
        row = session.scalars(select(Delivery).where(Delivery.state == DeliveryState.QUEUED)).one()
        assert row.attempts == 1
        assert row.last_error == "451 try later"
        assert row.next_at is not None
        assert session.get_one(Issue, issue_id).status is IssueStatus.SENDING
    transport.failures.clear()
    drain(s, issue_id)  # not due yet: nothing happens
    assert states(factory)["slow@x.com"] == "queued"
    with transaction(factory) as session:
        session.execute(update(Delivery).values(next_at=utcnow() - timedelta(minutes=1)))
    drain(s, issue_id)
    assert states(factory)["slow@x.com"] == "sent"
    assert transport.recipients == ["ok@x.com", "slow@x.com"]


def test_attempts_are_capped(factory: sessionmaker[Session], settings: Settings) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["slow@x.com"])
    busy = TemporaryFailure("450 mailbox busy", 450, stage=Stage.RCPT)
    transport = MemoryTransport(failures={"slow@x.com": busy})
    s = sender(factory, settings, transport)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    for _ in range(MAX_ATTEMPTS):
        with transaction(factory) as session:
            session.execute(update(Delivery).values(next_at=None))
        drain(s, issue_id)
    with factory() as session:
        row = session.scalars(select(Delivery)).one()
        assert row.state is DeliveryState.FAILED
        assert row.attempts == MAX_ATTEMPTS
        assert row.last_error is not None
        assert row.last_error.startswith(f"gave up after {MAX_ATTEMPTS}")
        assert session.get_one(Issue, issue_id).status is IssueStatus.SENT


def test_hard_bounce_fails_and_suppresses(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["gone@x.com", "ok@x.com"])
    bounce = PermanentFailure(
        "RCPT TO gone@x.com: 550 no such user", 550, verdict=Verdict.ADDRESS, stage=Stage.RCPT
    )
    s = sender(factory, settings, MemoryTransport(failures={"gone@x.com": bounce}))
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    drain(s, issue_id)
    assert states(factory) == {"gone@x.com": "failed", "ok@x.com": "sent"}
    with factory() as session:
        assert session.scalars(select(Suppression.email_key)).all() == ["gone@x.com"]
        gone = session.scalars(select(Subscriber).where(Subscriber.email == "gone@x.com")).one()
        assert gone.status is SubscriberStatus.BOUNCED


def test_unknown_outcome_is_not_resent(factory: sessionmaker[Session], settings: Settings) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["maybe@x.com"])
    transport = MemoryTransport(failures={"maybe@x.com": UnknownOutcome("lost after DATA")})
    s = sender(factory, settings, transport)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    drain(s, issue_id)
    transport.failures.clear()
    drain(s, issue_id)
    assert states(factory) == {"maybe@x.com": "unknown"}
    assert transport.sent == []


def test_unsubscribed_after_fanout_gets_nothing(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["stay@x.com", "leave@x.com"])
    transport = MemoryTransport()
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
        session.execute(
            update(Subscriber)
            .where(Subscriber.email == "leave@x.com")
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )
    drain(sender(factory, settings, transport), issue_id)
    assert transport.recipients == ["stay@x.com"]
    assert states(factory) == {"stay@x.com": "sent", "leave@x.com": "skipped"}


def test_concurrent_senders_never_send_one_recipient_twice(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    emails = [f"r{i:02d}@example.com" for i in range(40)]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    small = settings.with_overrides(batch_size=4)
    with transaction(factory) as session:
        start_send(session, small, issue_id, NOW)
    transports = [MemoryTransport() for _ in range(3)]
    workers = [sender(factory, small, t, worker=f"w{i}") for i, t in enumerate(transports)]
    threads = [threading.Thread(target=drain, args=(w, issue_id)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sent = [r for t in transports for r in t.recipients]
    assert sorted(sent) == emails
    assert set(states(factory).values()) == {"sent"}


def test_rows_of_a_dead_worker_are_reclaimed_after_their_lease(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["a@x.com", "b@x.com"])
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
        # a worker claimed a@x.com and died: its lease runs out in the future, then in the past
        session.execute(
            update(Delivery)
            .where(
                Delivery.subscriber_id
                == select(Subscriber.id).where(Subscriber.email == "a@x.com").scalar_subquery()
            )
            .values(
                state=DeliveryState.SENDING,
                claimed_by="dead",
                attempts=1,
                lease_until=utcnow() + timedelta(minutes=5),
            )
        )
    transport = MemoryTransport()
    s = sender(factory, settings, transport)
    drain(s, issue_id)
    assert transport.recipients == ["b@x.com"]  # the live lease is respected
    with transaction(factory) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.claimed_by == "dead")
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
    drain(s, issue_id)
    assert transport.recipients == ["b@x.com", "a@x.com"]
    assert states(factory) == {"a@x.com": "sent", "b@x.com": "sent"}
    with factory() as session:
        assert session.get_one(Issue, issue_id).status is IssueStatus.SENT


def test_one_claim_takes_one_batch(factory: sessionmaker[Session], settings: Settings) -> None:
    # On PostgreSQL, before ANALYZE, UPDATE ... WHERE id IN (LIMITed SKIP LOCKED subquery)
    # re-ran the subquery per row and one claim took every row of the issue.
    emails = [f"r{i:02d}@example.com" for i in range(50)]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    small = settings.with_overrides(batch_size=3)
    with transaction(factory) as session:
        start_send(session, small, issue_id, NOW)
    transport = MemoryTransport()
    assert sender(factory, small, transport).run_batch(issue_id).claimed == 3
    assert len(transport.sent) == 3


def test_a_slow_batch_keeps_its_rows_and_never_sends_stolen_ones(
    factory: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    emails = [f"r{i}@example.com" for i in range(5)]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    fast_transport = MemoryTransport()
    fast = sender(factory, settings, fast_transport, worker="fast")

    class Stalling(MemoryTransport):
        """While sending its first message, the lease runs out and another worker moves in."""

        def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None:
            if not self.sent:
                with transaction(factory) as session:
                    session.execute(update(Delivery).values(lease_until=utcnow() - timedelta(1)))
                drain(fast, issue_id)
            super().send(envelope, message, ready)

    slow_transport = Stalling()
    slow = sender(factory, settings, slow_transport, worker="slow")
    # As if every message took most of a lease: the batch renews (and checks what it still
    # owns) before each one.
    monkeypatch.setattr(lease, "IN_HAND", 2.0)
    drain(slow, issue_id)
    everything = slow_transport.recipients + fast_transport.recipients
    assert sorted(set(everything)) == emails
    # The message in flight when the lease was lost checks its claim just before its content
    # leaves (the transport's ready hook), so not even that one goes out twice.
    assert len(everything) == len(set(everything))
    assert slow_transport.recipients == []
    assert set(states(factory).values()) == {"sent"}


def test_a_message_that_cannot_be_built_fails_alone(
    factory: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["bad@x.com", "ok@x.com"])
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    from newsletter.compose.message import MessageTemplate

    original = MessageTemplate.build

    def build(self: MessageTemplate, recipient: Recipient, **kwargs: Any) -> bytes:
        if recipient.email == "bad@x.com":
            raise UnicodeEncodeError("ascii", "é", 0, 1, "no SMTPUTF8")
        return original(self, recipient, **kwargs)

    monkeypatch.setattr(MessageTemplate, "build", build)
    transport = MemoryTransport()
    drain(sender(factory, settings, transport), issue_id)
    assert transport.recipients == ["ok@x.com"]
    assert states(factory) == {"bad@x.com": "failed", "ok@x.com": "sent"}
    with factory() as session:
        error = session.scalar(select(Delivery.last_error).where(Delivery.last_error.is_not(None)))
        assert error is not None
        assert error.startswith("cannot build the message: UnicodeEncodeError")
        assert session.get_one(Issue, issue_id).status is IssueStatus.SENT


def test_sending_again_continues_what_is_due(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["ok@x.com", "slow@x.com"])
    later = TemporaryFailure("451 later", 451, stage=Stage.RCPT)
    transport = MemoryTransport(failures={"slow@x.com": later})
    s = sender(factory, settings, transport)
    dispatcher = InlineDispatcher(lambda i: s.run_batch(i).claimed)
    first = send_issue(factory, settings, issue_id, dispatcher, NOW)
    assert first.recipients == 2
    transport.failures.clear()
    with transaction(factory) as session:
        session.execute(update(Delivery).values(next_at=utcnow() - timedelta(seconds=1)))
    again = send_issue(factory, settings, issue_id, dispatcher, utcnow())
    assert (again.recipients, again.batches) == (0, 1)
    assert transport.recipients == ["ok@x.com", "slow@x.com"]
    assert states(factory) == {"ok@x.com": "sent", "slow@x.com": "sent"}
