"""Who may be mailed: the one rule, as SQL conditions over ``subscribers``.

A subscriber is *mailable* when confirmed and not on the suppression list; an issue goes to
those whose picks share a section with it (mask 0 means every section; cards in no section,
"Other", reach only those). Fan-out applies :func:`eligible_for` when it creates the delivery
rows; a batch applies :func:`mailable` again when it claims its rows and, while it sends them,
every second to the rows it has left (:func:`gone`), so an unsubscribe or a bounce that lands
mid-send stops the mail within a second, however slow the batch.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from newsletter.models import Delivery, Subscriber, SubscriberStatus, Suppression


def mailable() -> ColumnElement[bool]:
    """Confirmed and not suppressed."""
    return and_(
        Subscriber.status == SubscriberStatus.CONFIRMED,
        ~exists().where(Suppression.email_key == Subscriber.email_key),
    )


def eligible_for(issue_mask: int) -> ColumnElement[bool]:
    """Mailable, and some card of the issue (its sections: ``issue_mask``) in their picks."""
    return and_(
        mailable(),
        or_(Subscriber.category_mask == 0, Subscriber.category_mask.op("&")(issue_mask) != 0),
    )


def gone(session: Session, delivery_ids: Collection[int]) -> set[int]:
    """Which of these deliveries' readers may no longer be mailed (unsubscribed, bounced,
    suppressed since the rows were claimed)."""
    if not delivery_ids:
        return set()
    return set(
        session.scalars(
            select(Delivery.id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.id.in_(delivery_ids), ~mailable())
        )
    )
