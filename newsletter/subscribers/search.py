"""Subscribers found by a part of their address or name, for the desk's "as subscriber" and
the operators' lookups (read-only)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from newsletter.models import Subscriber
from newsletter.sections import sections_of

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class SubscriberHit:
    email: str
    name: str | None
    status: str
    sections: tuple[str, ...]  # the sections picked; () is every section


def search_subscribers(session: Session, text: str, limit: int = 20) -> list[SubscriberHit]:
    """Subscribers whose address or name holds ``text`` (case-insensitive), addresses that
    start with it first."""
    needle = "".join(ch for ch in text if ch.isprintable()).strip().lower()
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = select(Subscriber)
    if needle:
        query = query.where(
            or_(
                Subscriber.email_key.like(f"%{escaped}%", escape="\\"),
                func.lower(func.coalesce(Subscriber.name, "")).like(f"%{escaped}%", escape="\\"),
            )
        ).order_by(
            Subscriber.email_key.like(f"{escaped}%", escape="\\").desc(), Subscriber.email_key
        )
    else:
        query = query.order_by(Subscriber.id.desc())
    rows = session.scalars(query.limit(max(1, min(limit, SEARCH_LIMIT))))
    return [
        SubscriberHit(s.email, s.name, s.status.value, tuple(sections_of(s.category_mask)))
        for s in rows
    ]
