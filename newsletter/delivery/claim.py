"""Claiming a batch: which delivery rows are due, and taking some of them atomically.

A claim marks rows ``sending`` under a token and a lease, in the caller's transaction. On
PostgreSQL the rows are chosen with ``FOR UPDATE SKIP LOCKED``, so concurrent workers take
disjoint rows; on SQLite every transaction is ``BEGIN IMMEDIATE``, a single writer. A live
batch renews its lease (:mod:`newsletter.delivery.lease`); a lease that runs out (its worker
died mid-batch) makes the rows due again; resending the dead worker's message in flight is the
one duplicate the guarantee allows.

What a claim costs must not grow with the send. Every claim and every outcome rewrites its row,
and on PostgreSQL each rewrite leaves the row's old index entries behind until VACUUM, which
on a big ``deliveries`` table does not come during a send (autovacuum waits for a fifth of the
table to be dead). A million-row send leaves a million dead ``queued`` entries at the front of
the queue index and a million dead ``sending`` entries in the lease index, all with expired
leases. So a claim never walks either from its start: fresh rows are read from just past the
last row sent (every fresh row below it was claimed already, bar the rare ones handed back,
which the claim reads when nothing is left above), and leases that ran out are looked for only
when nothing else fills the batch. During a busy send those rows go back to the queue through
:func:`newsletter.delivery.lease.release_stranded` (an idle worker every third of a lease, the
minute tick), and the next claims take them first. ``bench/scale.py`` checks every plan of a
claim at a million rows, from the start of a send to its last batch.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, literal_column, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus, Subscriber
from newsletter.subscribers.audience import mailable

LEASE = timedelta(seconds=15)  # NEWSLETTER_DELIVERY_LEASE's default

Ordering = ColumnElement[Any] | InstrumentedAttribute[Any]
# Every column of ix_deliveries_queue (migration 0004), so that PostgreSQL reads rows in index
# order and stops at the limit: with issue_id and state fixed that is due time then id, and for
# fresh rows (next_at IS NULL, no equality to its planner) id order.
QUEUE_ORDER: tuple[Ordering, ...] = (
    Delivery.issue_id,
    Delivery.state,
    Delivery.next_at,
    Delivery.id,
)


def fresh() -> ColumnElement[bool]:
    """Rows never tried: the bulk of every send, read in id order straight off the index."""
    return and_(Delivery.state == DeliveryState.QUEUED, Delivery.next_at.is_(None))


def waited(now: datetime) -> ColumnElement[bool]:
    """Queued rows whose time came: a retry that is due, or a row handed back by a release."""
    return and_(Delivery.state == DeliveryState.QUEUED, Delivery.next_at <= now)


def lapsed(now: datetime) -> ColumnElement[bool]:
    """Rows still ``sending`` under a lease that ran out: their holder stopped renewing."""
    # The state as a literal, not a bound value: only then may a generic plan (psycopg
    # prepares a statement after five runs) use ix_deliveries_lease, whose predicate it is;
    # with a parameter PostgreSQL cannot prove the predicate and reads the whole table.
    sending: ColumnElement[str] = literal_column(f"'{DeliveryState.SENDING.value}'")
    return and_(Delivery.state == sending, Delivery.lease_until < now)


def overdue(now: datetime) -> ColumnElement[bool]:
    """Rows that waited: a retry whose time came, or a claim whose lease ran out."""
    return or_(waited(now), lapsed(now))


def claimable(now: datetime) -> ColumnElement[bool]:
    """Rows a batch may take."""
    return or_(fresh(), overdue(now))


def last_sent(session: Session, issue_id: int) -> int | None:
    """The id of the issue's last row sent (None before the first), read backward off the
    queue index: one entry, whatever the size of the issue.

    Fresh rows are claimed in id order, so every fresh row below it was claimed already, save
    a few handed back since (a pause, a stop, "retry failed") or skipped while another claim
    held them; past it are the rows still to send and the dead entries of the batches in
    flight, a few batches' worth."""
    return session.scalar(
        select(Delivery.id)
        .where(
            Delivery.issue_id == issue_id,
            Delivery.state == DeliveryState.SENT,
            Delivery.next_at.is_(None),
        )
        .order_by(*(column.desc() for column in QUEUE_ORDER))
        .limit(1)
    )


def fresh_ahead(session: Session, issue_id: int) -> bool:
    """Fresh rows wait past the last row sent, so the send is certainly not over; one index
    probe at any size. False says nothing: ask the exact question then (whether any row is
    queued or sending walks every dead entry the send left: 0.3 s at a million rows)."""
    frontier = last_sent(session, issue_id)
    ahead = fresh() if frontier is None else and_(fresh(), Delivery.id > frontier)
    found = session.scalar(
        select(Delivery.id)
        .where(Delivery.issue_id == issue_id, ahead)
        .order_by(*QUEUE_ORDER)
        .limit(1)
    )
    return found is not None


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


@dataclass(frozen=True)
class Taken:
    """What a claim read of one delivery row as it locked it (``attempts`` before the claim)."""

    subscriber_id: int
    mask: int
    message_id: str
    attempts: int


@dataclass
class Claim:
    """The rows one batch took: their ids and the token that marks them as this batch's."""

    token: str
    version: int  # the issue's version: cached message templates of older versions are stale
    ids: list[int]
    # Read with the ids, so that claimed_rows need not read the rows again (by id, 200
    # descents of the primary key: half of what it cost at a million rows).
    taken: dict[int, Taken] = field(default_factory=dict)

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
    not sending.

    In this order: rows that waited and are due (earliest first), then fresh rows in id order,
    then, only if the batch is still short, rows whose lease ran out. Each step is one index
    range read that stops at its limit, whatever the size of the issue (the module's
    docstring says why the order is also what keeps it so).
    """
    issue = session.get(Issue, issue_id)
    if issue is None or issue.status is not IssueStatus.SENDING:
        return None
    claim = Claim(f"{worker_id}:{secrets.token_hex(4)}", issue.version, [])
    locking = session.get_bind().dialect.name == "postgresql"

    def take(condition: ColumnElement[bool], *order: Ordering) -> None:
        due = (
            select(
                Delivery.id,
                Delivery.subscriber_id,
                Delivery.variant_mask,
                Delivery.message_id,
                Delivery.attempts,
            )
            .where(Delivery.issue_id == issue_id, condition)
            .order_by(*order)
            .limit(limit - len(claim.ids))
        )
        if locking:
            due = due.with_for_update(skip_locked=True)
        for delivery_id, subscriber_id, mask, message_id, attempts in session.execute(due):
            claim.ids.append(delivery_id)
            claim.taken[delivery_id] = Taken(subscriber_id, mask, message_id, attempts)

    take(waited(now), *QUEUE_ORDER)
    if len(claim.ids) < limit:
        # Fresh rows past the last row sent first, those below it only when that is not
        # enough (see last_sent); starting at the front would walk every dead entry the send
        # left (the module's docstring).
        frontier = last_sent(session, issue_id)
        if frontier is None:
            take(fresh(), *QUEUE_ORDER)
        else:
            take(and_(fresh(), Delivery.id > frontier), *QUEUE_ORDER)
            if len(claim.ids) < limit:
                take(and_(fresh(), Delivery.id <= frontier), *QUEUE_ORDER)
    if len(claim.ids) < limit:
        # The lease index's order, so no sort; reached near the end of a send, or when a
        # holder died and no tick or idle worker has handed its rows back yet.
        take(lapsed(now), Delivery.issue_id, Delivery.lease_until)
    if not claim.ids:
        return claim
    # Select, then update by id. As one UPDATE ... WHERE id IN (subquery), PostgreSQL may
    # re-run the LIMITed SKIP LOCKED subquery per row (before ANALYZE it does) and one claim
    # swallows the whole issue. The rows stay locked until this transaction ends, so they are
    # still what the select saw; the state test only guards, and names no state the lease
    # index's predicate would let the planner use (a bitmap over every dead entry in it).
    session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(claim.ids),
            Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.SENDING]),
        )
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
    """The claim's rows in id order, with what each message needs; in the claim's own
    transaction, right after :func:`claim_batch` (its rows are locked and ``sending``, one
    attempt more than it read). A row whose subscriber is gone is left out."""
    if not claim.ids:
        return []
    wanted = {taken.subscriber_id for taken in claim.taken.values()}
    subscribers = {
        row.id: row
        for row in session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.email_key,
                Subscriber.name,
                Subscriber.category_mask,
            ).where(Subscriber.id.in_(wanted))
        )
    }
    # The rule as a condition, not a column: in the select list PostgreSQL hashed the whole
    # suppression list for every claim (13 ms at 50,000 addresses); here it probes its index
    # once per reader (an anti-join, 0.3 ms for a batch).
    may = set(session.scalars(select(Subscriber.id).where(Subscriber.id.in_(wanted), mailable())))
    rows = []
    for delivery_id in sorted(claim.ids):
        taken = claim.taken[delivery_id]
        subscriber = subscribers.get(taken.subscriber_id)
        if subscriber is None:
            continue
        rows.append(
            ClaimedRow(
                delivery_id=delivery_id,
                subscriber_id=taken.subscriber_id,
                mask=taken.mask,
                message_id=taken.message_id,
                attempts=taken.attempts + 1,
                email=subscriber.email,
                email_key=subscriber.email_key,
                name=subscriber.name,
                category_mask=subscriber.category_mask,
                eligible=subscriber.id in may,
            )
        )
    return rows
