"""The review window: an editor's approval or hold, and who is told that a draft waits.

With ``NEWSLETTER_REVIEW_HOURS`` the weekly job builds the week's draft that many hours before
the slot, schedules it for the slot (``planned_at``) and mails the staff. It goes out at the
slot unless an editor holds it:

- :func:`hold_issue`: a scheduled issue goes back to draft, marked held; the weekly job (a re-run,
  the tick) never schedules a held draft again. A held draft can still be edited.
- :func:`approve_issue`: records the approval; a draft with a planned slot still ahead (a held
  one, say) is scheduled at it, clearing the hold; a draft with none stays a draft (an operator
  schedules or sends it). Approving a scheduled issue only records the word.

Both record who and when on the issue, for the desk and the list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.issues.content import get_issue
from newsletter.issues.status import (
    DRAFT,
    SCHEDULE,
    SCHEDULED,
    UNSCHEDULE,
    Action,
    check,
    transition,
)
from newsletter.models import Issue, User

# Not status moves of their own (a hold may be an unschedule, an approval a schedule): what
# they may start from, and how a refusal is worded.
HOLD = Action(
    "hold",
    frozenset({DRAFT, SCHEDULED}),
    DRAFT,
    "issue {issue} is {status}: only a draft or a scheduled issue can be held",
)
APPROVE = Action(
    "approve",
    frozenset({DRAFT, SCHEDULED}),
    SCHEDULED,
    "issue {issue} is {status}: only a draft or a scheduled issue can be approved",
)


def hold_issue(session: Session, issue_id: int, by: str, now: datetime) -> None:
    """Stop a scheduled issue from going out (back to draft), or mark a draft held so the
    weekly job leaves it alone. :class:`IllegalTransition` for any other status."""
    issue = get_issue(session, issue_id, lock=True)
    check(issue_id, issue.status, HOLD)
    reason = f"held by {by}"
    values: dict[str, Any] = {
        "held_at": now,
        "held_by": by,
        "approved_at": None,
        "approved_by": None,
    }
    if issue.status is SCHEDULED:
        transition(
            session,
            issue_id,
            UNSCHEDULE,
            now,
            expected=SCHEDULED,
            send_at=None,
            status_reason=reason,
            **values,
        )
        return
    session.execute(
        update(Issue)
        .where(Issue.id == issue_id)
        .values(status_reason=reason, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    session.expire(issue)


def approve_issue(session: Session, issue_id: int, by: str, now: datetime) -> bool:
    """Record ``by``'s approval; returns True when that scheduled the issue (a draft whose
    planned slot is still ahead). :class:`IllegalTransition` once sending has started."""
    issue = get_issue(session, issue_id, lock=True)
    check(issue_id, issue.status, APPROVE)
    values: dict[str, Any] = {
        "approved_at": now,
        "approved_by": by,
        "held_at": None,
        "held_by": None,
    }
    if issue.status is DRAFT and issue.planned_at is not None and issue.planned_at > now:
        transition(
            session,
            issue_id,
            SCHEDULE,
            now,
            expected=DRAFT,
            send_at=issue.planned_at,
            status_reason=f"approved by {by}",
            **values,
        )
        return True
    session.execute(
        update(Issue)
        .where(Issue.id == issue_id)
        .values(status_reason=f"approved by {by}", updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    session.expire(issue)
    return False


def claim_review_mail(session: Session, issue_id: int, now: datetime) -> bool:
    """Whether this caller is the one to mail the staff about the issue's review window: one
    conditional ``UPDATE``, so two weekly runs (a retry, a second beat) mail them once."""
    won = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.review_mailed_at.is_(None))
        .values(review_mailed_at=now)
        .returning(Issue.id)
        .execution_options(synchronize_session=False)
    ).first()
    return won is not None


def staff_addresses(session: Session) -> list[str]:
    """Every editor's and operator's address (accounts not disabled), oldest first."""
    return list(
        session.scalars(select(User.email).where(User.disabled_at.is_(None)).order_by(User.id))
    )
