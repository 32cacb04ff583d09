"""The suppression list: addresses that must never be mailed again, whatever their status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsletter.models import Event, Subscriber, Suppression, SuppressionReason
from newsletter.subscribers.parse import email_hash


def suppress(
    session: Session, email_key: str, reason: SuppressionReason, note: str | None, now: datetime
) -> None:
    """Add an address to the suppression list. An address already there keeps its entry,
    except that an unsubscribe is upgraded to a hard bounce or a complaint: a later
    confirmation lifts an unsubscribe, and must not lift those."""
    digest = email_hash(email_key)
    entry = session.scalar(select(Suppression).where(Suppression.email_hash == digest))
    if entry is None:
        session.add(
            Suppression(
                email_key=email_key, email_hash=digest, reason=reason, note=note, created_at=now
            )
        )
    elif entry.reason == SuppressionReason.UNSUBSCRIBED and reason in _STRONGER:
        entry.reason, entry.note = reason, note
    session.flush()


_STRONGER = frozenset({SuppressionReason.HARD_BOUNCE, SuppressionReason.COMPLAINT})


def forget(session: Session, email_key: str, now: datetime) -> bool:
    """Erase what we hold about a person (GDPR art. 17): their subscriber row goes, and with it
    their delivery rows (ON DELETE CASCADE) and the link from their events (SET NULL). What
    stays is one suppression entry holding only the address's SHA-256, so no import can add
    them back; a suppression that was already there keeps its reason but loses the address
    and its note. Returns whether anything about them was found."""
    digest = email_hash(email_key)
    found = False
    entry = session.scalar(select(Suppression).where(Suppression.email_hash == digest))
    if entry is None:
        session.add(
            Suppression(
                email_key=None,
                email_hash=digest,
                reason=SuppressionReason.FORGOTTEN,
                created_at=now,
            )
        )
    else:
        found = True
        entry.email_key = None
        entry.note = None
    # Their events stay, for the counts of each issue, but anonymous: the link goes (SET
    # NULL) and so does the detail (a bounce's diagnostic quotes the address).
    ids = select(Subscriber.id).where(Subscriber.email_key == email_key).scalar_subquery()
    session.execute(
        update(Event).where(Event.subscriber_id == ids).values(detail=None, url=None),
        execution_options={"synchronize_session": False},
    )
    deleted = session.execute(delete(Subscriber).where(Subscriber.email_key == email_key))
    session.flush()
    return found or bool(getattr(deleted, "rowcount", 0))
