"""Claiming a batch: which delivery rows are due, and taking some of them atomically.

A claim marks rows ``sending`` under a token and a lease, in the caller's transaction. On
PostgreSQL the rows are chosen with ``FOR UPDATE SKIP LOCKED``, so concurrent workers take
disjoint rows; on SQLite every transaction is ``BEGIN IMMEDIATE``, a single writer. A live
batch renews its lease (:mod:`newsletter.delivery.lease`); a lease that runs out (its worker
died mid-batch) makes the rows due again; resending the dead worker's message in flight is the
one duplicate the guarantee allows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus, Subscriber
from newsletter.subscribers.audience import mailable

LEASE = timedelta(seconds=15)  # NEWSLETTER_DELIVERY_LEASE's default


def fresh() -> ColumnElement[bool]:
    """Rows never tried: the bulk of every send, read in id order straight off the index."""
    return and_(Delivery.state == DeliveryState.QUEUED, Delivery.next_at.is_(None))


def overdue(now: datetime) -> ColumnElement[bool]:
    """Rows that waited: a retry whose time came, or a claim whose lease ran out."""
    return or_(
        and_(Delivery.state == DeliveryState.QUEUED, Delivery.next_at <= now),
        and_(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now),
    )


def claimable(now: datetime) -> ColumnElement[bool]:
    """Rows a batch may take."""
    return or_(fresh(), overdue(now))


@dataclass(frozen=True)
class ClaimedRow:
    """One claimed delivery with what its message needs."""

    delivery_id: int
    subscriber_id: int
    mask: int
    message_id: str
    attempts: int
    email: str
    email_key: str
    name: str | None
    category_mask: int
    eligible: bool  # still confirmed and not suppressed (re-checked at send time)


@dataclass
class Claim:
    """The rows one batch took: their ids and the token that marks them as this batch's."""

    token: str
    version: int  # the issue's version: cached message templates of older versions are stale
    ids: list[int]

    def mine(self) -> tuple[ColumnElement[bool], ...]:
        """Rows of this batch that it still owns (by id: no index on the token is needed)."""
        return (
            Delivery.id.in_(self.ids),
            Delivery.claimed_by == self.token,
            Delivery.state == DeliveryState.SENDING,
        )


def claim_batch(
    session: Session,
    issue_id: int,
    now: datetime,
    worker_id: str,
    limit: int,
    lease: timedelta = LEASE,
) -> Claim | None:
    """Take up to ``limit`` due rows of a sending issue for ``lease``; None when the issue is
    not sending."""
    issue = session.get(Issue, issue_id)
    if issue is None or issue.status is not IssueStatus.SENDING:
        return None
    claim = Claim(f"{worker_id}:{secrets.token_hex(4)}", issue.version, [])
    # Rows that waited go first, then fresh ones fill the batch. Two narrow queries, each an
    # index range read in id order that stops at the limit (migration 0004); one query with
    # the OR would sort every open row of the issue on every claim. Fresh rows are ordered by
    # every column of ix_deliveries_queue: with issue_id, state and next_at (IS NULL) fixed
    # that is id order, which PostgreSQL reads off the index, whereas "ORDER BY id" alone
    # makes it sort every queued row first (IS NULL is no equality to its planner).
    queue_order = (Delivery.issue_id, Delivery.state, Delivery.next_at, Delivery.id)
    for condition, order in ((overdue(now), (Delivery.id,)), (fresh(), queue_order)):
        due = (
            select(Delivery.id)
            .where(Delivery.issue_id == issue_id, condition)
            .order_by(*order)
            .limit(limit - len(claim.ids))
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claim.ids.extend(session.scalars(due))
        if len(claim.ids) >= limit:
            break
    if not claim.ids:
        return claim
    # Select, then update by id. As one UPDATE ... WHERE id IN (subquery), PostgreSQL may
    # re-run the LIMITed SKIP LOCKED subquery per row (before ANALYZE it does) and one claim
    # swallows the whole issue. The rows stay locked until this transaction ends.
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(claim.ids), claimable(now))
        .values(
            state=DeliveryState.SENDING,
            claimed_by=claim.token,
            lease_until=now + lease,
            attempts=Delivery.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return claim


def claimed_rows(session: Session, claim: Claim) -> list[ClaimedRow]:
    """The claim's rows in id order, joined with what each message needs."""
    result = session.execute(
        select(
            Delivery.id.label("delivery_id"),
            Delivery.subscriber_id,
            Delivery.variant_mask.label("mask"),
            Delivery.message_id,
            Delivery.attempts,
            Subscriber.email,
            Subscriber.email_key,
            Subscriber.name,
            Subscriber.category_mask,
            mailable().label("eligible"),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(*claim.mine())
        .order_by(Delivery.id)
    )
    return [ClaimedRow(**row._asdict()) for row in result]
