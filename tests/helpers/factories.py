"""Small builders for test data, written straight into the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.attempts import BatchResult
from newsletter.delivery.dispatch import InlineDispatcher
from newsletter.delivery.fanout import start_send
from newsletter.delivery.sender import Sender
from newsletter.ingest.records import ReviewRecord
from newsletter.ingest.store import store_reviews
from newsletter.issues.build import build_issue
from newsletter.mail.memory import MemoryTransport
from newsletter.mail.smtp import SmtpTransport
from newsletter.mail.transport import Transport
from newsletter.models import (
    Delivery,
    DeliveryState,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from newsletter.sections import mask_of
from newsletter.subscribers.parse import email_hash
from tests.helpers.env import NOW as NOW  # one clock for tests, re-exported


def review(
    slug: str,
    category: str,
    days_ago: float = 1,
    score: float | None = 7,
    score_max: float | None = 10,
) -> ReviewRecord:
    return ReviewRecord(
        url=f"https://reviews.example.com/{slug}/",
        title=f"REVIEW: {slug.title()}",
        category=category,
        author="Jo Park",
        published_at=NOW - timedelta(days=days_ago),
        score=score,
        score_max=score_max if score is not None else None,
        tldr=f"The short of {slug}.",
        image_url=f"https://cdn.example.com/{slug}.jpg",
    )


def subscriber(
    session: Session,
    email: str,
    *,
    status: SubscriberStatus = SubscriberStatus.CONFIRMED,
    picks: list[str] | None = None,
    name: str | None = None,
) -> Subscriber:
    row = Subscriber(
        email=email,
        email_key=email.lower(),
        name=name,
        status=status,
        category_mask=mask_of(picks or []),
        created_at=NOW,
    )
    session.add(row)
    session.flush()
    return row


def suppress(session: Session, email: str) -> None:
    session.add(
        Suppression(
            email_key=email,
            email_hash=email_hash(email),
            reason=SuppressionReason.MANUAL,
            created_at=NOW,
        )
    )


def issue_with(
    factory: sessionmaker[Session],
    settings: Settings,
    reviews: list[ReviewRecord],
    emails: list[str],
) -> int:
    """Store reviews and confirmed all-section subscribers, build this week's issue."""
    with transaction(factory) as session:
        store_reviews(session, reviews, now=NOW)
        for email in emails:
            subscriber(session, email)
    with transaction(factory) as session:
        return build_issue(session, settings, now=NOW).issue_id


def send_now(
    factory: sessionmaker[Session], settings: Settings, issue_id: int, transport: Transport
) -> BatchResult:
    """Fan an issue out and send one batch of it in this process, through ``transport``."""
    with transaction(factory) as session:
        start_send(session, settings, issue_id, utcnow())
    return Sender(factory, settings, transport).run_batch(issue_id)


def delivery_counts(factory: sessionmaker[Session], issue_id: int) -> dict[DeliveryState, int]:
    """An issue's delivery rows by state (states with no rows are absent)."""
    with factory() as session:
        rows = session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.issue_id == issue_id)
            .group_by(Delivery.state)
        )
        return dict(rows.all())


def inline_dispatcher(
    factory: sessionmaker[Session], settings: Settings
) -> tuple[InlineDispatcher, MemoryTransport]:
    """A dispatcher that runs batches in this process, into an in-memory transport."""
    transport = MemoryTransport()
    sender = Sender(factory, settings, transport, worker_id="w1")
    return InlineDispatcher(lambda i: sender.run_batch(i).claimed), transport


def send_all_over_smtp(
    factory: sessionmaker[Session], settings: Settings, issue_id: int, port: int
) -> None:
    """Fan an issue out and send every batch of it in this process, over real SMTP to a
    server on loopback ``port``."""
    smtp = settings.with_overrides(smtp_url=f"smtp://127.0.0.1:{port}")
    assert smtp.smtp is not None
    sender = Sender(factory, smtp, SmtpTransport(smtp.smtp))
    try:
        with transaction(factory) as session:
            start_send(session, smtp, issue_id, NOW)
        while sender.run_batch(issue_id).claimed:
            pass
    finally:
        sender.close()
