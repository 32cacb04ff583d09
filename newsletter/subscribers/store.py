"""Writing subscribers: add one, or import parsed rows, inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import (
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from newsletter.sections import mask_of
from newsletter.subscribers.consent import Channel, blocks
from newsletter.subscribers.parse import SubscriberRow, email_hash


@dataclass
class ImportCounts:
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    suppressed: int = 0


def _apply_status(
    subscriber: Subscriber, status: SubscriberStatus, source: str, now: datetime
) -> None:
    subscriber.status = status
    if status is SubscriberStatus.CONFIRMED:
        subscriber.consent_at = subscriber.consent_at or now
        subscriber.confirmed_at = subscriber.confirmed_at or now
        subscriber.consent_source = subscriber.consent_source or source
    elif status is SubscriberStatus.UNSUBSCRIBED:
        subscriber.unsubscribed_at = subscriber.unsubscribed_at or now


def import_rows(
    session: Session,
    rows: list[SubscriberRow],
    *,
    default_status: SubscriberStatus = SubscriberStatus.PENDING,
    source: str = "import",
    now: datetime | None = None,
    channel: Channel = Channel.IMPORT,
) -> ImportCounts:
    """Insert new subscribers and update names and picks of known ones.

    A row's own ``status`` column (when present) wins over ``default_status``. An address on
    the suppression list is never re-activated by an import, nor by an operator adding it
    (``channel``; the rule is :func:`newsletter.subscribers.consent.blocks`).
    """
    now = now or utcnow()
    counts = ImportCounts()
    keys = [row.email for row in rows]
    known: dict[str, Subscriber] = {}
    suppressed: dict[str, SuppressionReason] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        known.update(
            (s.email_key, s)
            for s in session.scalars(select(Subscriber).where(Subscriber.email_key.in_(chunk)))
        )
        hashes = [email_hash(k) for k in chunk]
        entries = session.execute(
            select(Suppression.email_hash, Suppression.reason).where(
                Suppression.email_hash.in_(hashes)
            )
        )
        suppressed.update((digest, reason) for digest, reason in entries)
    for row in rows:
        status = SubscriberStatus(row.status) if row.status else default_status
        mask = mask_of(row.categories)
        subscriber = known.get(row.email)
        if blocks(suppressed.get(email_hash(row.email)), channel):
            counts.suppressed += 1
            continue
        if subscriber is None:
            subscriber = Subscriber(
                email=row.email,
                email_key=row.email,
                name=row.name,
                category_mask=mask,
                created_at=now,
            )
            _apply_status(subscriber, status, source, now)
            session.add(subscriber)
            known[row.email] = subscriber
            counts.accepted += 1
        elif (subscriber.name, subscriber.category_mask) != (row.name, mask) or (
            row.status and subscriber.status != status
        ):
            subscriber.name, subscriber.category_mask = row.name, mask
            if row.status:
                _apply_status(subscriber, status, source, now)
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.flush()
    return counts
