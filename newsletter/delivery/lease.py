"""Leases: how long a batch holds the rows it claimed, the heartbeat that keeps a live batch's
claim, and the hand-back of rows whose holder stopped renewing.

A claim (:mod:`newsletter.delivery.claim`) marks rows ``sending`` under a token until
``lease_until``, ``NEWSLETTER_DELIVERY_LEASE`` seconds ahead (15 by default). While the batch is
alive a :class:`Heartbeat` thread moves ``lease_until`` forward every third of the lease, so a
live batch keeps its rows however long one SMTP transaction takes (a slow server costs time,
never the claim). A worker killed with SIGKILL renews nothing: at most one lease later its
rows are stranded, :func:`release_stranded` (run by every idle Celery worker every third of a
lease, and by the minute tick through ``claimable``) hands them back to the queue, and a
batch sends them. So the rest of a killed worker's batch is being sent again within about
4/3 of a lease, not the ten minutes of a fixed lease.

Exactly-once (README, "Exactly once") still holds, because a batch never starts a message
unless its lease, as it last renewed it, runs at least half a lease longer
(:meth:`Heartbeat.ensure`): the heartbeat renews every third of a lease during the send, and
a row can only be taken from its holder after ``lease_until``. The lease is measured from
the moment the renewing statement was sent (the monotonic clock), so the holder's idea of it
is never later than the database's. Workers' wall clocks must agree to well within half a
lease (NTP does).

One bound: a batch whose message has been in flight for longer than ``stall_after`` (a lease
plus ten SMTP timeouts: every read, write and connect of a transaction is bounded by that
timeout, so a working server cannot take that long) is taken for hung; its heartbeat stops
renewing and its rows can go to other workers. When the hung transaction wakes up, its
content leaves only if :meth:`Heartbeat.hold` (the transport's ``ready`` hook, called once the
envelope is written, before the content) finds the row still the batch's; so at most one
message is sent twice, the one whose content was already on its way or whose outcome was still
waiting to be written (the one duplicate a killed worker is allowed). If its rows were taken
meanwhile, every later write of the hung batch is guarded by its claim token and it sends
nothing more; if nobody took them yet, it renews and carries on. A wait for the shared send
rate is not a transaction in flight: the previous outcome is committed before it. With
pipelining, the body follows the ``ready`` check by up to the server's reply time.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import Engine, case, func, literal, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from newsletter.delivery.claim import claimable
from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus, utcnow

log = logging.getLogger(__name__)

HEARTBEATS_PER_LEASE = 3  # renewals per lease: two may fail before a live claim is at risk
IN_HAND = 0.5  # the share of a lease that must be left, as last renewed, to start a message
SMTP_TIMEOUTS_PER_MESSAGE = 10  # connect, greeting, EHLO, STARTTLS, AUTH, envelope, data, dot


class LeaseLost(Exception):
    """Raised from a transport's ``ready`` hook: this row is no longer the batch's (its lease
    was lost while the batch looked hung), so its content must not leave."""


class Heartbeat:
    """Keeps one claim's lease alive from a thread while its batch runs.

    Use as a context manager around the batch's sends. The main thread calls :meth:`busy`
    before handing a message to the transport and :meth:`idle` after, and :meth:`ensure`
    before each message for the rows it may still send.
    """

    def __init__(
        self,
        engine: Engine,
        token: str,
        ids: list[int],
        lease: timedelta,
        *,
        stall_after: float,
        claimed_at: float | None = None,
    ) -> None:
        self.engine = engine
        self.token = token
        self.ids = ids
        self.lease = lease.total_seconds()
        self.every = self.lease / HEARTBEATS_PER_LEASE
        self.stall_after = stall_after
        # The claim itself set lease_until = now + lease just before this was made.
        self._valid_until = (claimed_at or time.monotonic()) + self.lease
        self.owned: frozenset[int] = frozenset(ids)
        self._busy_since: float | None = None
        self.stalled = False  # the heartbeat stopped renewing: the batch looked hung
        self._lock = threading.Lock()  # one renewal at a time (thread or main)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.lease)

    # -- the main thread ----------------------------------------------------------------
    def busy(self) -> None:
        self._busy_since = time.monotonic()

    def idle(self) -> None:
        self._busy_since = None

    def ensure(self) -> frozenset[int]:
        """The rows this batch may still send. Renews here, on the caller's thread, when the
        heartbeat has fallen behind (less than half a lease left, or it stopped); a database
        error propagates: a batch that cannot hold its claim must not send."""
        if self.stalled or self._valid_until - time.monotonic() < self.lease * IN_HAND:
            self.renew()
            self.stalled = False
        return self.owned

    def hold(self, delivery_id: int) -> None:
        """The last word before a message's content leaves (the transport's ``ready`` hook):
        :class:`LeaseLost` unless the row is still this batch's with half a lease in hand. A
        transaction that hung before this point is abandoned here, never completed."""
        try:
            owned = self.ensure()
        except SQLAlchemyError as exc:
            raise LeaseLost(f"cannot renew the lease of claim {self.token}: {exc}") from exc
        if delivery_id not in owned:
            raise LeaseLost(f"delivery {delivery_id} is no longer claim {self.token}'s")

    # -- renewing -----------------------------------------------------------------------
    def renew(self) -> frozenset[int]:
        """Move this claim's lease forward; returns (and keeps) the ids it still owns."""
        with self._lock:
            started = time.monotonic()
            mine = (
                Delivery.id.in_(self.ids),
                Delivery.claimed_by == self.token,
                Delivery.state == DeliveryState.SENDING,
            )
            with self.engine.begin() as conn:
                conn.execute(
                    update(Delivery)
                    .where(*mine)
                    .values(lease_until=utcnow() + timedelta(seconds=self.lease))
                )
                owned = frozenset(conn.scalars(select(Delivery.id).where(*mine)))
            self._valid_until = started + self.lease
            self.owned = owned
            return owned

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            busy_since = self._busy_since
            if busy_since is not None and time.monotonic() - busy_since > self.stall_after:
                if not self.stalled:
                    log.warning(
                        "claim %s: one message in flight for over %.0f s; no longer renewing "
                        "its lease, so other workers take its rows",
                        self.token,
                        self.stall_after,
                    )
                self.stalled = True
                continue
            try:
                self.renew()
            except Exception as exc:  # the next beat tries again; ensure() decides
                log.warning("claim %s: cannot renew its lease: %s", self.token, exc)


def stall_bound(lease: timedelta, smtp_timeout: float) -> float:
    """Seconds one message may be in flight before its batch is taken for hung."""
    return lease.total_seconds() + SMTP_TIMEOUTS_PER_MESSAGE * smtp_timeout


def release_stranded(session: Session, now: datetime) -> dict[int, int]:
    """Hand back the rows whose lease ran out (their holder stopped renewing): to the queue,
    due now, so that they go first in the next claim; to ``cancelled`` if their issue was
    cancelled meanwhile. Returns rows released per *sending* issue, for a caller to dispatch
    batches for. Each row is released by exactly one caller (a conditional ``UPDATE``), so
    several idle workers looking at once dispatch once between them.
    """
    expired = (Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now)
    found = session.execute(
        select(Delivery.issue_id, Issue.status)
        .join(Issue, Issue.id == Delivery.issue_id)
        .where(*expired)
        .group_by(Delivery.issue_id, Issue.status)
    ).all()
    released: dict[int, int] = {}
    for issue_id, status in found:
        # The claim counted an attempt that, but for the one message in flight, never reached
        # a server: give it back, so kills and hangs do not use up a row's temporary retries.
        values: dict[str, object] = {
            "claimed_by": None,
            "lease_until": None,
            "attempts": case((Delivery.attempts > 0, Delivery.attempts - 1), else_=0),
        }
        if status is IssueStatus.CANCELLED:
            values.update(state=DeliveryState.CANCELLED, next_at=None)
        else:
            due = literal(now, type_=Delivery.__table__.c.next_at.type)
            values.update(state=DeliveryState.QUEUED, next_at=func.coalesce(Delivery.next_at, due))
        result = session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, *expired)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        count = getattr(result, "rowcount", 0) or 0
        if count and status is IssueStatus.SENDING:
            released[issue_id] = count
    return released


def orphaned(session: Session, now: datetime, quiet: timedelta) -> dict[int, int]:
    """Due rows of sending issues on which nothing is happening: no row of the issue is held
    (``sending``) and none was sent for ``quiet``. Their batch task is gone: a worker killed
    after taking the task from the broker but before claiming its rows leaves the task
    unacknowledged until the broker's visibility timeout (an hour) and the rows queued with no
    task to take them. An idle worker that finds such rows dispatches batches for them (a
    task too many claims nothing and ends); the minute tick's five-minute rule is the net.
    Returns due rows per issue."""
    found: dict[int, int] = {}
    for issue_id in session.scalars(select(Issue.id).where(Issue.status == IssueStatus.SENDING)):
        mine = Delivery.issue_id == issue_id
        held = session.scalar(
            select(func.count()).where(mine, Delivery.state == DeliveryState.SENDING)
        )
        if held:
            continue
        issue = session.get(Issue, issue_id)
        last = session.scalar(select(func.max(Delivery.sent_at)).where(mine))
        moved = max(x for x in (last, issue.updated_at if issue else None, now - quiet) if x)
        if moved > now - quiet:
            continue
        count = session.scalar(select(func.count()).where(mine, claimable(now)))
        if count:
            found[issue_id] = count
    return found
