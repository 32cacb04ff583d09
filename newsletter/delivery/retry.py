"""Failures an operator sees, and "retry failed": the rows worth another try, sent again.

Two kinds of rows end without a delivery and may deserve another try, and only an operator's
explicit choice sends them again:

- **temporary**: ``failed`` after :data:`~newsletter.delivery.attempts.MAX_ATTEMPTS` temporary
  failures (4xx replies, lost connections); their error starts with ``gave up after``;
- **unknown**: the connection was lost after the final dot of DATA, so the server may have
  taken the message: a retry may deliver it twice, which is why it is a choice of its own.

Permanent refusals (5xx) are never retried: the address was refused, or suppressed. A retried
row is queued as new (its attempts reset) and the issue goes on sending (a sent issue reopens,
:data:`~newsletter.issues.status.REOPEN`); a paused issue keeps its rows queued for its resume.
The claim re-checks every address, so one unsubscribed since is skipped, not mailed.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.dispatch import Dispatcher
from newsletter.errors import WorkError
from newsletter.issues.content import get_issue
from newsletter.issues.status import PAUSED, REOPEN, SENDING, SENT, transition
from newsletter.models import Delivery, DeliveryState, Subscriber

GAVE_UP = "gave up after"  # how the sender words a row failed after its temporary failures


@dataclass(frozen=True)
class Failure:
    delivery_id: int
    email: str
    state: str  # failed | unknown
    reply: str  # the server's words, or what went wrong on the way
    at: datetime | None
    retryable: bool  # temporary or unknown: "retry failed" may send it again


@dataclass(frozen=True)
class Retried:
    issue_id: int
    rows: int
    batches: int
    status: str


def retryable(*, temporary: bool = True, unknown: bool = True) -> ColumnElement[bool]:
    kinds: list[ColumnElement[bool]] = []
    if temporary:
        kinds.append(
            and_(Delivery.state == DeliveryState.FAILED, Delivery.last_error.startswith(GAVE_UP))
        )
    if unknown:
        kinds.append(Delivery.state == DeliveryState.UNKNOWN)
    return or_(*kinds) if kinds else false()


def latest_failures(session: Session, issue_id: int, limit: int = 20) -> list[Failure]:
    """The newest ``failed`` and ``unknown`` rows of an issue, with what the server said."""
    get_issue(session, issue_id)
    rows = session.execute(
        select(
            Delivery.id,
            Subscriber.email,
            Delivery.state,
            Delivery.last_error,
            func.coalesce(Delivery.lease_until, Delivery.created_at),
            retryable(),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.issue_id == issue_id,
            Delivery.state.in_([DeliveryState.FAILED, DeliveryState.UNKNOWN]),
        )
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return [
        Failure(id_, email, state.value, error or "", at, bool(again))
        for id_, email, state, error, at, again in rows
    ]


def count_retryable(session: Session, issue_id: int) -> dict[str, int]:
    """How many rows "retry failed" would queue: {"temporary": n, "unknown": m}."""
    get_issue(session, issue_id)
    out = {}
    for name, condition in (
        ("temporary", retryable(unknown=False)),
        ("unknown", retryable(temporary=False)),
    ):
        out[name] = (
            session.scalar(select(func.count()).where(Delivery.issue_id == issue_id, condition))
            or 0
        )
    return out


def retry_failed(
    factory: sessionmaker[Session],
    settings: Settings,
    issue_id: int,
    dispatcher: Dispatcher,
    now: datetime,
    *,
    temporary: bool = True,
    unknown: bool = True,
    emails: Collection[str] = (),
) -> Retried:
    """Queue the chosen kinds of rows again (only those of ``emails``, when given), reopen a
    sent issue, commit, then dispatch. :class:`IllegalTransition` for a draft, scheduled or
    cancelled issue (nothing of it failed, or it was stopped for good)."""
    with transaction(factory) as session:
        issue = get_issue(session, issue_id, lock=True)
        status = issue.status
        if status not in (SENT, SENDING, PAUSED):
            transition(session, issue_id, REOPEN, now, expected=status)  # raises: not legal
        conditions = [
            Delivery.issue_id == issue_id,
            retryable(temporary=temporary, unknown=unknown),
        ]
        if emails:
            keys = [e.strip().lower() for e in emails]
            conditions.append(
                Delivery.subscriber_id.in_(
                    select(Subscriber.id).where(Subscriber.email_key.in_(keys))
                )
            )
        if not session.scalar(select(func.count()).where(*conditions)):
            what = f" for {', '.join(emails)}" if emails else ""
            raise WorkError(f"issue {issue_id}: no failed or unknown delivery to retry{what}")
        if status is SENT:  # reopened only with rows to send, or it would never finish
            transition(session, issue_id, REOPEN, now, expected=SENT)
            status = SENDING
        rows = getattr(
            session.execute(
                update(Delivery)
                .where(*conditions)
                .values(
                    state=DeliveryState.QUEUED,
                    attempts=0,
                    next_at=None,
                    lease_until=None,
                    claimed_by=None,
                )
                .execution_options(synchronize_session=False)
            ),
            "rowcount",
            0,
        )
    batches = math.ceil(rows / settings.batch_size) if status is SENDING else 0
    if batches:
        dispatcher.dispatch(issue_id, batches)
    return Retried(issue_id, rows, batches, status.value)
