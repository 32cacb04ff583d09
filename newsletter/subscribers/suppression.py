"""The suppression list: addresses that must never be mailed again, whatever their status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import Suppression, SuppressionReason
from newsletter.subscribers.parse import email_hash


def suppress(
    session: Session, email_key: str, reason: SuppressionReason, note: str | None, now: datetime
) -> None:
    """Add an address to the suppression list (no-op when it is already there)."""
    digest = email_hash(email_key)
    if session.scalar(select(Suppression.id).where(Suppression.email_hash == digest)) is None:
        session.add(
            Suppression(
                email_key=email_key, email_hash=digest, reason=reason, note=note, created_at=now
            )
        )
        session.flush()
