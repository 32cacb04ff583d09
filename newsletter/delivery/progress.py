"""Where an issue's delivery stands: counts by state (the operator's view)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.issues import get_issue
from newsletter.models import Delivery, DeliveryState


@dataclass(frozen=True)
class Progress:
    issue_id: int
    week_key: str
    status: str
    counts: dict[str, int]
    next_retry_at: datetime | None  # the earliest retry still waiting for its time

    @property
    def total(self) -> int:
        return sum(self.counts.values())


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
    return Progress(issue.id, issue.week_key, issue.status.value, counts, next_retry)
