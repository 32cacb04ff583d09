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
from newsletter.subscribers.consent import LEFT, Channel, blocks, imported_status
from newsletter.subscribers.parse import SubscriberRow, clean_name, clean_text, email_hash
from newsletter.subscribers.suppression import suppress

SOURCE_LENGTH = 64  # subscribers.consent_source


@dataclass
class ImportCounts:
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    suppressed: int = 0
    # rows whose status column said "confirmed", kept pending: the operator did not pass
    # --confirmed (consent.imported_status)
    held_pending: int = 0


def _apply_status(
    session: Session, subscriber: Subscriber, status: SubscriberStatus, source: str, now: datetime
) -> None:
    subscriber.status = status
    if status is SubscriberStatus.CONFIRMED:
        subscriber.consent_at = subscriber.consent_at or now
        subscriber.confirmed_at = subscriber.confirmed_at or now
        subscriber.consent_source = subscriber.consent_source or source
    elif status in LEFT:
        if status is SubscriberStatus.UNSUBSCRIBED:
            subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
        suppress(session, subscriber.email_key, LEFT[status], source, now)


def import_rows(
    session: Session,
    rows: list[SubscriberRow],
    *,
    confirmed: bool = False,
    source: str = "import",
    now: datetime | None = None,
    channel: Channel = Channel.IMPORT,
) -> ImportCounts:
    """Insert new subscribers and update names and picks of known ones.

    What a row's status becomes is :func:`newsletter.subscribers.consent.imported_status`'s:
    confirmed only when ``confirmed`` (the operator gathered consent elsewhere), never by the
    file's own ``status`` column, which may only keep a row pending or record that an address
    left (and suppress it). An address on the suppression list is never re-activated by an
    import, nor by an operator adding it (``channel``; the rule is
    :func:`newsletter.subscribers.consent.blocks`). ``source`` is recorded as the consent's
    source (cut to fit its column).
    """
    now = now or utcnow()
    source = clean_text(source, SOURCE_LENGTH) or "import"
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
        if blocks(suppressed.get(email_hash(row.email)), channel):
            counts.suppressed += 1
            continue
        column = SubscriberStatus(row.status) if row.status else None
        name, mask = clean_name(row.name), mask_of(row.categories)
        subscriber = known.get(row.email)
        status = imported_status(
            column, subscriber.status if subscriber else None, confirmed=confirmed
        )
        if column is SubscriberStatus.CONFIRMED and not confirmed:
            counts.held_pending += 1
        if subscriber is None:
            subscriber = Subscriber(
                email=row.email,
                email_key=row.email,
                name=name,
                category_mask=mask,
                created_at=now,
            )
            session.add(subscriber)
            known[row.email] = subscriber
            _apply_status(session, subscriber, status or SubscriberStatus.PENDING, source, now)
            counts.accepted += 1
        elif (subscriber.name, subscriber.category_mask) != (name, mask) or status:
            subscriber.name, subscriber.category_mask = name, mask
            if status:
                _apply_status(session, subscriber, status, source, now)
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.flush()
    return counts
