"""Who may be mailed: the one rule, as SQL conditions over ``subscribers``.

A subscriber is *mailable* when confirmed and not on the suppression list; an issue goes to
those whose picks share a section with it (mask 0 means every section; cards in no section,
"Other", reach only those). Fan-out applies :func:`eligible_for` when it creates the delivery
rows, and every batch applies :func:`mailable` again just before each message, so an
unsubscribe or a bounce that lands mid-send stops the mail.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_
from sqlalchemy.sql import ColumnElement

from newsletter.models import Subscriber, SubscriberStatus, Suppression


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
