"""Tracked links of an issue, and the clicks and opens recorded through them.

An issue's tracked links are registered at fan-out (:mod:`newsletter.issues.links`: one
``issue_links`` row per distinct URL, named by a signed token). :func:`record_click` and
:func:`record_open` run in the web app. A click counts once per (delivery, link), and its
first count adds one to that review's clicks of the day (``review_metrics``), which trending
reads. Inserts use ``ON CONFLICT DO NOTHING``: two first clicks racing (a double click, a
prefetch) count once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.ingest.urls import url_key
from newsletter.models import Delivery, DeliveryOpen, IssueLink, LinkClick, ReviewMetric
from newsletter.tokens import BadToken, Signer


@dataclass(frozen=True)
class Click:
    url: str  # where to send the reader: always a URL the issue itself contains
    counted: bool  # a first click of this recipient on this link


def _insert(
    session: Session, table: type[LinkClick] | type[DeliveryOpen]
) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _delivery(session: Session, signer: Signer, recipient: str, issue_id: int | None) -> int | None:
    """The delivery a recipient token names, if it is valid (and of ``issue_id``)."""
    try:
        subject = signer.verify(recipient, "click")
        token_issue, _, subscriber = subject.partition(".")
        issue, subscriber_id = int(token_issue), int(subscriber)
    except (BadToken, ValueError):
        return None
    if issue_id is not None and issue != issue_id:
        return None
    return session.scalar(
        select(Delivery.id).where(
            Delivery.issue_id == issue, Delivery.subscriber_id == subscriber_id
        )
    )


def resolve_link(session: Session, signer: Signer, link: str) -> IssueLink:
    """The link a link token names; :class:`BadToken` for a forged one or a deleted issue."""
    subject = signer.verify(link, "link")
    row = session.get(IssueLink, int(subject)) if subject.isdigit() else None
    if row is None:
        raise BadToken("this link belongs to an issue that no longer exists")
    return row


def record_click(
    session: Session, signer: Signer, link: str, recipient: str, now: datetime, tz: ZoneInfo
) -> Click:
    """Resolve a click. A bad link token raises :class:`BadToken` (nowhere to redirect); a bad
    recipient token still redirects but counts nothing (a reader's link must not break)."""
    row = resolve_link(session, signer, link)
    delivery_id = _delivery(session, signer, recipient, row.issue_id)
    if delivery_id is None:
        return Click(row.url, counted=False)
    # RETURNING, not rowcount: psycopg's rowcount is not 0 for a row DO NOTHING skipped
    counted = (
        session.scalar(
            _insert(session, LinkClick)
            .values(delivery_id=delivery_id, link_id=row.id, clicked_at=now)
            .returning(LinkClick.link_id)
        )
        is not None
    )
    if counted and row.review_id is not None:
        day = now.astimezone(tz).date()
        bump = _metric_insert(session).values(url_key=url_key(row.url), day=day, views=0, clicks=1)
        session.execute(
            bump.on_conflict_do_update(
                index_elements=[ReviewMetric.url_key, ReviewMetric.day],
                set_={"clicks": ReviewMetric.clicks + 1},
            )
        )
    return Click(row.url, counted=counted)


def _metric_insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(ReviewMetric)
    return sqlite.insert(ReviewMetric)


def record_open(session: Session, signer: Signer, recipient: str, now: datetime) -> bool:
    """Count the first load of the open pixel; a bad token counts nothing."""
    delivery_id = _delivery(session, signer, recipient, None)
    if delivery_id is None:
        return False
    inserted = session.scalar(
        _insert(session, DeliveryOpen)
        .values(delivery_id=delivery_id, opened_at=now)
        .returning(DeliveryOpen.delivery_id)
    )
    return inserted is not None
