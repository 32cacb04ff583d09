"""Steering a send: pause, resume and cancel, by the issue's status in the database.

Nothing is revoked on the broker. Every worker re-reads its issue's status between messages
(at most :data:`CHECK_EVERY` seconds apart) and stops when it is no longer ``sending``: on a
pause it hands its unsent rows back to the queue untouched, on a cancel it marks them
cancelled. So a pause takes effect within seconds on every worker, and a resume continues
exactly where the send stopped: sent rows are never claimed again, queued ones are. The
status changes themselves are :mod:`newsletter.issues.status` moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.claim import claimable
from newsletter.delivery.dispatch import Dispatcher
from newsletter.delivery.sender import STATUS_CHECK_EVERY
from newsletter.issues.status import CANCEL, PAUSE, RESUME, transition
from newsletter.models import Delivery, DeliveryState, IssueStatus

CHECK_EVERY = STATUS_CHECK_EVERY


@dataclass(frozen=True)
class Steered:
    issue_id: int
    status: IssueStatus
    affected: int = 0  # rows cancelled, or batches dispatched on resume


def pause_issue(session: Session, issue_id: int, now: datetime, reason: str) -> Steered:
    transition(session, issue_id, PAUSE, now, status_reason=reason)
    return Steered(issue_id, IssueStatus.PAUSED)


def resume_issue(
    factory: sessionmaker[Session],
    settings: Settings,
    issue_id: int,
    dispatcher: Dispatcher,
    now: datetime,
) -> Steered:
    """Back to ``sending``, then dispatch batches for whatever is due (after the commit)."""
    with transaction(factory) as session:
        transition(session, issue_id, RESUME, now, status_reason=None)
        due = session.scalar(
            select(func.count()).where(Delivery.issue_id == issue_id, claimable(now))
        )
    batches = math.ceil((due or 0) / settings.batch_size)
    dispatcher.dispatch(issue_id, batches)
    return Steered(issue_id, IssueStatus.SENDING, batches)


def cancel_issue(session: Session, issue_id: int, now: datetime) -> Steered:
    """Stop for good: queued rows (and rows of dead workers) become ``cancelled``; a live
    worker cancels the rest of its batch when it next checks."""
    transition(session, issue_id, CANCEL, now, status_reason="cancelled by an operator")
    stale = (Delivery.state == DeliveryState.QUEUED) | (
        (Delivery.state == DeliveryState.SENDING) & (Delivery.lease_until < now)
    )
    count = session.scalar(select(func.count()).where(Delivery.issue_id == issue_id, stale)) or 0
    session.execute(
        update(Delivery)
        .where(Delivery.issue_id == issue_id, stale)
        .values(state=DeliveryState.CANCELLED, lease_until=None, next_at=None)
        .execution_options(synchronize_session=False)
    )
    return Steered(issue_id, IssueStatus.CANCELLED, count)
