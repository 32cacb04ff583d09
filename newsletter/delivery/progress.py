"""Where an issue's delivery stands: counts by state, rate, ETA, why it stopped, the latest
errors (the operator's view)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.issues.content import get_issue
from newsletter.models import Delivery, DeliveryState, utcnow

RATE_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class Progress:
    issue_id: int
    week_key: str
    status: str
    counts: dict[str, int]
    next_retry_at: datetime | None  # the earliest retry still waiting for its time
    status_reason: str | None = None
    rate: float = 0.0  # messages sent per second over the last minute
    errors: tuple[str, ...] = ()  # the latest distinct errors, newest first

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def remaining(self) -> int:
        return self.counts.get("queued", 0) + self.counts.get("sending", 0)

    @property
    def eta_seconds(self) -> float | None:
        return self.remaining / self.rate if self.rate > 0 else None


def issue_progress(session: Session, issue_id: int) -> Progress:
    issue = get_issue(session, issue_id)
    counts = {state.value: 0 for state in DeliveryState}
    for state, count in session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.state)
    ):
        counts[state.value] = count
    next_retry = session.scalar(
        select(func.min(Delivery.next_at)).where(
            Delivery.issue_id == issue_id, Delivery.state == DeliveryState.QUEUED
        )
    )
    now = utcnow()
    recent = session.scalar(
        select(func.count()).where(
            Delivery.issue_id == issue_id,
            Delivery.state == DeliveryState.SENT,
            Delivery.sent_at >= now - RATE_WINDOW,
        )
    )
    errors: list[str] = []
    for error in session.scalars(
        select(Delivery.last_error)
        .where(Delivery.issue_id == issue_id, Delivery.last_error.is_not(None))
        .order_by(Delivery.id.desc())
        .limit(200)
    ):
        if error and error not in errors:
            errors.append(error)
        if len(errors) == 5:
            break
    return Progress(
        issue.id,
        issue.week_key,
        issue.status.value,
        counts,
        next_retry,
        issue.status_reason,
        (recent or 0) / RATE_WINDOW.total_seconds(),
        tuple(errors),
    )
