"""When a draft goes out: schedule its send for a time, or take it back to draft.

The time lives in the database (``issues.send_at``); the minute tick starts the send when it
comes (:mod:`newsletter.jobs.tick`). Both are :mod:`newsletter.issues.status` moves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.errors import FieldError
from newsletter.issues.status import SCHEDULE, UNSCHEDULE, check, current, transition
from newsletter.models import IssueStatus


def schedule_send(session: Session, issue_id: int, at: datetime, now: datetime) -> IssueStatus:
    """Send a draft (or move a scheduled one) at ``at``; returns the status it left.
    :class:`FieldError` (``send_at``) for a time that is not in the future."""
    before = current(session, issue_id)
    check(issue_id, before, SCHEDULE)
    if at <= now:
        raise FieldError("send_at", "that is in the past", shown=at.isoformat(), code="past")
    # An operator's schedule is the last word: a hold is lifted (``issues.review``).
    return transition(
        session, issue_id, SCHEDULE, now, expected=before, send_at=at, held_at=None, held_by=None
    )


def unschedule(session: Session, issue_id: int, now: datetime, reason: str | None = None) -> None:
    """A scheduled issue back to draft (its time forgotten), e.g. for an editor's changes."""
    transition(session, issue_id, UNSCHEDULE, now, send_at=None, status_reason=reason)
