"""An issue's life: the legal status changes, and the one function that makes them.

::

               schedule (again: a new time)
              ┌──────┐
              ▼      │
    draft ──schedule──▶ scheduled ──start──▶ sending ──finish──▶ sent
      ▲ │                 │  │                 │ ▲ ◀──reopen (retry)──┘
      │ └──────start──────┼──┼────────────────▶│ │
      └────unschedule─────┘  │           pause │ │ resume
                             │                 ▼ │
                             │               paused
                             │                 │
                             └──cancel──▶ cancelled ◀──cancel── sending, paused

Every writer of ``issues.status`` goes through :func:`transition`: it checks the move against
:data:`ACTIONS` and makes it with one conditional ``UPDATE ... WHERE id = :id AND status =
:from``. When two processes race for the same move (two operators pressing pause, two ticks
starting one scheduled issue), both may read the old status, but only one ``UPDATE`` matches
a row: on PostgreSQL the second waits for the first's row lock and then re-reads the row
(READ COMMITTED), on SQLite writers take turns (``BEGIN IMMEDIATE``). The loser gets
:class:`IssueChanged` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import ColumnElement

from newsletter.errors import InputError, NotFound, WorkError
from newsletter.models import Issue, IssueStatus

DRAFT, SCHEDULED, SENDING = IssueStatus.DRAFT, IssueStatus.SCHEDULED, IssueStatus.SENDING
PAUSED, SENT, CANCELLED = IssueStatus.PAUSED, IssueStatus.SENT, IssueStatus.CANCELLED


@dataclass(frozen=True)
class Action:
    """A named move: from any of ``sources`` to ``target``; ``refusal`` says why not, with
    ``{issue}`` and ``{status}`` filled in."""

    name: str
    sources: frozenset[IssueStatus]
    target: IssueStatus
    refusal: str


def _action(name: str, sources: set[IssueStatus], target: IssueStatus, refusal: str) -> Action:
    return Action(name, frozenset(sources), target, refusal)


SCHEDULE = _action(
    "schedule",
    {DRAFT, SCHEDULED},
    SCHEDULED,
    "issue {issue} is {status}; only a draft can be scheduled",
)
UNSCHEDULE = _action(
    "unschedule", {SCHEDULED}, DRAFT, "issue {issue} is {status}: only a scheduled issue goes back"
)
START = _action(
    "start", {DRAFT, SCHEDULED}, SENDING, "issue {issue} is {status}; only a draft can be sent"
)
PAUSE = _action(
    "pause", {SENDING}, PAUSED, "issue {issue} is {status}: only a sending issue pauses"
)
RESUME = _action(
    "resume", {PAUSED}, SENDING, "issue {issue} is {status}: only a paused issue resumes"
)
FINISH = _action("finish", {SENDING}, SENT, "issue {issue} is {status}: only a sending issue ends")
REOPEN = _action(
    "reopen",
    {SENT},
    SENDING,
    "issue {issue} is {status}: only a sent issue reopens for a retry",
)
CANCEL = _action(
    "cancel",
    {SCHEDULED, SENDING, PAUSED},
    CANCELLED,
    "issue {issue} is {status}: nothing to cancel",
)
ACTIONS: tuple[Action, ...] = (
    SCHEDULE,
    UNSCHEDULE,
    START,
    PAUSE,
    RESUME,
    FINISH,
    REOPEN,
    CANCEL,
)
# The table of legal moves, derived from the actions: status -> where it may go.
LEGAL: dict[IssueStatus, frozenset[IssueStatus]] = {
    status: frozenset(a.target for a in ACTIONS if status in a.sources) for status in IssueStatus
}
# A scheduled issue is still editable: the edit locks the issue's row, so a send starting
# meanwhile waits for it and composes the edited version (``issues.editing``).
EDITABLE = frozenset({DRAFT, SCHEDULED})


class IllegalTransition(WorkError):
    """The issue's status does not allow the action; nothing was changed."""

    def __init__(self, issue_id: int, status: IssueStatus, action: Action) -> None:
        super().__init__(action.refusal.format(issue=issue_id, status=status.value))
        self.issue_id, self.status, self.action = issue_id, status, action


class IssueChanged(IllegalTransition):
    """Another process changed the issue's status between our read and our write; the other
    one won and nothing of ours was written."""

    def __init__(self, issue_id: int, status: IssueStatus, action: Action) -> None:
        super().__init__(issue_id, status, action)
        self.args = (f"{self.args[0]} (it changed while we were at it)",)


class NotEditable(InputError):
    """Only a draft or a scheduled issue can be edited: once sending starts, recipients may
    hold the issue."""


def current(session: Session, issue_id: int) -> IssueStatus:
    status = session.scalar(select(Issue.status).where(Issue.id == issue_id))
    if status is None:
        raise NotFound(f"issue {issue_id}: no such issue")
    return status


def check(issue_id: int, status: IssueStatus, action: Action) -> None:
    """Raise :class:`IllegalTransition` unless ``action`` may start from ``status``."""
    if status not in action.sources:
        raise IllegalTransition(issue_id, status, action)


def ensure_editable(issue_id: int, status: IssueStatus) -> None:
    if status not in EDITABLE:
        raise NotEditable(
            f"issue {issue_id} is {status.value}: only a draft or a scheduled issue can be edited"
        )


def transition(
    session: Session,
    issue_id: int,
    action: Action,
    now: datetime,
    *,
    expected: IssueStatus | None = None,
    only_if: ColumnElement[bool] | None = None,
    **values: Any,
) -> IssueStatus:
    """Apply ``action`` to the issue in the caller's transaction; return the status it left.

    ``expected``: the status the caller already saw (else it is read here). ``only_if``: a
    further condition of the ``UPDATE`` (``finish`` needs "no open rows left"). ``values``:
    other columns to set with the move (``status_reason``, ``send_at``, ``sent_at``).
    Raises :class:`IllegalTransition` when the move is not legal from the status found, and
    :class:`IssueChanged` when the status changed under us or ``only_if`` did not hold.
    """
    before = expected if expected is not None else current(session, issue_id)
    check(issue_id, before, action)
    conditions = [Issue.id == issue_id, Issue.status == before]
    if only_if is not None:
        conditions.append(only_if)
    won = session.execute(
        update(Issue)
        .where(*conditions)
        .values(status=action.target, updated_at=now, **values)
        .returning(Issue.id)
        .execution_options(synchronize_session=False)
    ).first()
    if won is None:
        raise IssueChanged(issue_id, current(session, issue_id), action)
    loaded = session.identity_map.get(identity_key(Issue, issue_id))
    if loaded is not None:
        session.expire(loaded)  # the UPDATE bypassed the ORM: re-read on next access
    return before


def try_transition(
    session: Session,
    issue_id: int,
    action: Action,
    now: datetime,
    *,
    expected: IssueStatus,
    only_if: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    """:func:`transition` for moves that may rightly lose (a worker finishing an issue that
    an operator paused): False instead of an error when the status is not ``expected``."""
    try:
        transition(session, issue_id, action, now, expected=expected, only_if=only_if, **values)
    except IllegalTransition:
        return False
    return True
