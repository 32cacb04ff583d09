"""What a refusal met while sending does to the subscriber, over real SMTP (aiosmtpd): the same
thing the same refusal does when it comes back in a bounce report."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.models import (
    Delivery,
    DeliveryState,
    Event,
    Issue,
    IssueStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from tests.helpers.env import NOW
from tests.helpers.factories import issue_with, review, send_all_over_smtp
from tests.helpers.smtp import Recorder


def _send(factory: sessionmaker[Session], settings: Settings, port: int, emails: list[str]) -> int:
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    send_all_over_smtp(factory, settings, issue_id, port)
    return issue_id


def _row(factory: sessionmaker[Session], email: str) -> tuple[Subscriber, Delivery, str | None]:
    with factory() as session:
        subscriber = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        delivery = session.scalars(
            select(Delivery).where(Delivery.subscriber_id == subscriber.id)
        ).one()
        suppressed = session.scalar(
            select(Suppression.reason).where(Suppression.email_key == subscriber.email_key)
        )
        session.expunge_all()
        return subscriber, delivery, suppressed


def test_a_policy_block_at_rcpt_records_a_soft_failure_and_suppresses_nobody(
    factory: sessionmaker[Session], settings: Settings, smtp_server: tuple[Recorder, int]
) -> None:
    recorder, port = smtp_server
    issue_id = _send(
        factory, settings, port, ["blocked@x.example", "nobody@x.example", "ok@x.example"]
    )
    assert recorder.recipients == ["ok@x.example"]
    blocked, delivery, suppressed = _row(factory, "blocked@x.example")
    assert blocked.status is SubscriberStatus.CONFIRMED  # still subscribed
    assert suppressed is None
    assert delivery.state is DeliveryState.FAILED  # this message will not go: it was refused
    assert delivery.last_error is not None and "550 5.7.1" in delivery.last_error
    with factory() as session:
        events = session.scalars(select(Event).where(Event.subscriber_id == blocked.id)).all()
        assert [(e.kind, e.issue_id, e.delivery_id) for e in events] == [
            ("bounce_soft", issue_id, delivery.id)
        ]
        assert events[0].detail is not None
        assert events[0].detail["status"] == "5.7.1"
        assert events[0].detail["verdict"] == "permanent-policy"
    # the address that does not exist is a hard bounce, as before
    gone, gone_delivery, gone_reason = _row(factory, "nobody@x.example")
    assert (gone.status, gone_reason) == (SubscriberStatus.BOUNCED, SuppressionReason.HARD_BOUNCE)
    assert gone_delivery.state is DeliveryState.FAILED
    with factory() as session:
        assert session.get_one(Issue, issue_id).status is IssueStatus.SENT


def test_a_refused_message_pauses_the_issue_and_counts_nothing_against_the_address(
    factory: sessionmaker[Session], settings: Settings, smtp_server: tuple[Recorder, int]
) -> None:
    """552 5.3.4 after DATA refuses our message, not the address: our relay would refuse it
    for every reader alike, so the issue pauses with the reason instead of failing them all,
    the row goes back to the queue unspent, and nobody's standing changes."""
    recorder, port = smtp_server
    issue_id = _send(factory, settings, port, ["toobig@x.example", "ok@x.example"])
    assert recorder.recipients == []
    refused, delivery, suppressed = _row(factory, "toobig@x.example")
    assert (delivery.state, delivery.attempts) == (DeliveryState.QUEUED, 0)
    assert (refused.status, suppressed) == (SubscriberStatus.CONFIRMED, None)
    with factory() as session:
        issue = session.get_one(Issue, issue_id)
        assert issue.status is IssueStatus.PAUSED
        assert issue.status_reason is not None
        assert issue.status_reason.startswith("paused: every message would be refused: ")
        assert "552 5.3.4 message too big for system" in issue.status_reason
        assert session.scalars(select(Event).where(Event.subscriber_id == refused.id)).all() == []


def test_policy_blocks_on_three_issues_add_up_to_a_hard_bounce(
    factory: sessionmaker[Session], settings: Settings, smtp_server: tuple[Recorder, int]
) -> None:
    """The soft-bounce rule of bounce processing (NEWSLETTER_SOFT_BOUNCE_LIMIT distinct issues
    within NEWSLETTER_SOFT_BOUNCE_DAYS) applies to refusals met while sending too."""
    _, port = smtp_server
    with transaction(factory) as session:
        session.add(
            Subscriber(
                email="blocked@x.example",
                email_key="blocked@x.example",
                status=SubscriberStatus.CONFIRMED,
                created_at=NOW,
            )
        )
        for n in (101, 102):  # two earlier issues were refused by policy too
            session.add(Issue(id=n, week_key=f"2025-W{n - 60}", window_start=NOW, cutoff=NOW))
        session.flush()
        sid = session.scalars(select(Subscriber.id)).one()
        for n in (101, 102):
            session.add(Event(kind="bounce_soft", issue_id=n, subscriber_id=sid, created_at=NOW))
    _send(factory, settings, port, [])
    blocked, delivery, suppressed = _row(factory, "blocked@x.example")
    assert delivery.state is DeliveryState.FAILED
    assert (blocked.status, suppressed) == (
        SubscriberStatus.BOUNCED,
        SuppressionReason.HARD_BOUNCE,
    )
