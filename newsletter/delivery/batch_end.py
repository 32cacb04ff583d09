"""How a batch ends, in the database: its rows handed back, the issue paused, or finished.

A batch that stops early (a pause, a cancel, a stop asked of its process, its server refusing
every message) hands its unsent rows back by its claim token, so exactly its own rows move;
the batch that sends an issue's last row marks it sent, unless an operator paused or cancelled
it meanwhile (their word is the last: every move here is conditional on the status).
"""

from __future__ import annotations

from sqlalchemy import exists, func, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db import transaction
from newsletter.delivery.claim import Claim, fresh_ahead
from newsletter.issues.status import FINISH, PAUSE, SENDING, try_transition
from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus, utcnow


def stand_down(factory: sessionmaker[Session], claim: Claim, status: IssueStatus | None) -> int:
    """Hand the batch's unsent rows back: to the queue on a pause or a stop (their claim did
    not count as an attempt), to ``cancelled`` on a cancel. Returns how many."""
    with transaction(factory) as session:
        if status is IssueStatus.CANCELLED:
            values: dict[str, object] = {"state": DeliveryState.CANCELLED, "lease_until": None}
        else:
            values = {
                "state": DeliveryState.QUEUED,
                "claimed_by": None,
                "lease_until": None,
                "attempts": Delivery.attempts - 1,
            }
        done = session.execute(
            update(Delivery)
            .where(*claim.mine())
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(done, "rowcount", 0) or 0)


def pause(factory: sessionmaker[Session], issue_id: int, reason: str) -> None:
    """Pause a sending issue with ``reason`` (the send cannot go on without an operator)."""
    with transaction(factory) as session:
        try_transition(
            session, issue_id, PAUSE, utcnow(), expected=SENDING, status_reason=reason[:1000]
        )


def finish_if_done(factory: sessionmaker[Session], issue_id: int) -> None:
    """Mark a sending issue sent once none of its rows is queued or being sent.

    Asked after every batch. Whether any row is open walks every dead index entry the send
    has left until VACUUM (0.2 to 0.3 s a batch at the end of a million-row send, measured by
    ``bench/scale.py``), so one index probe first: while fresh rows wait past the last row
    sent the send is certainly not over. Only the last batches ask the exact question."""
    with transaction(factory) as session:
        if fresh_ahead(session, issue_id):
            return
        open_rows = exists().where(
            Delivery.issue_id == issue_id,
            Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.SENDING]),
        )
        now = utcnow()
        try_transition(
            session,
            issue_id,
            FINISH,
            now,
            expected=SENDING,
            only_if=~open_rows,
            sent_at=func.coalesce(Issue.sent_at, now),
        )
