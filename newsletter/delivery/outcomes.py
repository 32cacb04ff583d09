"""Recording what happened to each message, durably, before the next one can be accepted.

A batch holds one database connection for its whole run and writes every outcome with one
prepared ``UPDATE``, committed on its own; once the commit returns, the mark is the database's
and no failure of the worker can lose it. On PostgreSQL the connection runs in autocommit mode
with ``synchronous_commit = off``: a commit returns without waiting for its WAL to reach the
disk, which here costs more than everything else the worker does for a message. Every
``sync_every``-th commit (``NEWSLETTER_SYNC_COMMIT_EVERY``), and the last of each batch, waits
for the disk, and with it everything committed before it: if the database server itself
crashes, at most ``sync_every - 1`` marks per worker are rolled back, and those recipients may
get the message again once their lease runs out. ``1`` makes every commit wait. On SQLite
(WAL mode, ``synchronous=NORMAL``) a commit survives a killed process but not a power cut,
the same trade.

An outcome is *staged*, then *flushed*. The sender stages message k's outcome when the transport
returns, and the transport of message k+1 flushes it through its ``ready`` hook: over SMTP with
PIPELINING that happens after MAIL, RCPT and DATA went out and before their replies are read,
so the commit overlaps the mail server's work instead of adding to it. The rule that a killed
worker loses at most its one message in flight still holds, because ``ready`` returns before
any of message k+1's content leaves: at any instant at most one accepted message lacks its
mark. Anything else that reads or hands back the batch's rows (stand-down, finish, a new
stage) flushes first.

Every write is guarded by the batch's claim token: a row that another worker reclaimed after
this batch's lease ran out is never overwritten.
"""

from __future__ import annotations

import logging
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    and_,
    bindparam,
    literal_column,
    null,
    or_,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from newsletter.mail.replies import Verdict, status_in
from newsletter.mail.transport import PermanentFailure
from newsletter.models import Delivery, DeliveryState, Subscriber
from newsletter.subscribers.health import SoftBounceRule, hard_failure, soft_failure

log = logging.getLogger(__name__)

# Built once: SQLAlchemy compiles it once per dialect and then only binds values. The binds
# take the columns' own types (UTC timestamps, the state enum's stored values).
_columns = Delivery.__table__.c
_RELEASED = (DeliveryState.QUEUED, DeliveryState.CANCELLED)
_MARK = (
    update(Delivery)
    .where(
        Delivery.id == bindparam("b_id", type_=_columns.id.type),
        or_(
            Delivery.claimed_by == bindparam("b_token", type_=_columns.claimed_by.type),
            # Released meanwhile (our lease ran out during a long database lock wait) and not
            # claimed again: the outcome is still a fact, and recording it spares a resend.
            and_(
                Delivery.claimed_by.is_(None),
                # literals, not binds: the statement is also run as plain SQL (PostgreSQL)
                Delivery.state.in_([literal_column(f"'{s.value}'") for s in _RELEASED]),
            ),
        ),
    )
    .values(
        state=bindparam("b_state", type_=_columns.state.type),
        last_error=bindparam("b_error", type_=_columns.last_error.type),
        next_at=bindparam("b_next_at", type_=_columns.next_at.type),
        sent_at=bindparam("b_sent_at", type_=_columns.sent_at.type),
        lease_until=null(),
    )
)


def mark_sql(dialect: Dialect) -> str:
    """The statement every outcome runs, as the driver receives it on PostgreSQL (named
    parameters ``b_id``, ``b_token``, ``b_state``, ``b_error``, ``b_next_at``, ``b_sent_at``);
    ``bench/scale.py`` finds it among what a batch runs, to explain it."""
    return str(_MARK.compile(dialect=dialect))


class RecordError(RuntimeError):
    """An outcome could not be written: the batch must stop (its rows keep their lease and
    are taken again once it runs out), and a transport must not treat this as its failure."""


class OutcomeLog:
    """One batch's outcome writer; use as a context manager around the batch's sends."""

    def __init__(self, engine: Engine, token: str, *, sync_every: int = 1) -> None:
        self.engine = engine
        self.token = token
        self.sync_every = max(1, sync_every)
        self._conn: Connection | None = None
        self._cursor: Any = None  # PostgreSQL: the DBAPI cursor of the hot path
        self._staged: dict[str, Any] | None = None
        self._errors: tuple[type[Exception], ...] = (SQLAlchemyError,)
        self._relaxed = False  # synchronous_commit is off on this connection
        self._since_sync = 0  # commits since the last one that waited for the disk

    def __enter__(self) -> OutcomeLog:
        conn = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            if self.sync_every > 1:
                conn.exec_driver_sql("SET synchronous_commit = off")
                self._relaxed = True
            # The hot path runs the statement SQLAlchemy compiled straight on the driver's
            # cursor (psycopg prepares it server-side after a few runs): 50 µs a message
            # here, against 110 µs through Connection.execute.
            self._cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            self._sql = mark_sql(self.engine.dialect)
            self._errors = (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error)
        self._conn = conn
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            # A staged outcome is a fact (the server took the message): write it even when
            # the batch is ending on an error, unless writing is what failed.
            if not isinstance(exc, RecordError):
                try:
                    self.flush(durable=True)
                except RecordError:
                    if exc is None:
                        raise
        finally:
            conn, self._conn = self._conn, None
            cursor, self._cursor = self._cursor, None
            if conn is not None:
                try:  # the connection goes back to the pool as it came
                    if self._relaxed:
                        conn.exec_driver_sql("RESET synchronous_commit")
                    if cursor is not None:
                        cursor.close()
                except self._errors:
                    conn.invalidate()
                conn.close()  # rolls back whatever a failed write left open

    def stage(
        self,
        delivery_id: int,
        state: DeliveryState,
        error: str | None,
        now: datetime,
        *,
        next_at: datetime | None = None,
    ) -> None:
        """Hold ``state`` for one row of this batch until the next :meth:`flush` (the one
        staged before it is flushed first: never more than one outcome waits)."""
        self.flush()
        self._staged = {
            "b_id": delivery_id,
            "b_token": self.token,
            "b_state": state,
            "b_error": error,
            "b_next_at": next_at,
            "b_sent_at": now if state is DeliveryState.SENT else None,
        }

    def flush(self, *, durable: bool = False) -> None:
        """Commit the staged outcome, if any (idempotent). It is committed when this returns;
        it is on disk too when ``durable`` or when this is the ``sync_every``-th commit."""
        staged = self._staged
        if staged is None:
            return
        conn = self._conn
        if conn is None:
            raise RuntimeError("OutcomeLog used outside its 'with' block")
        self._since_sync += 1
        wait = self._relaxed and (durable or self._since_sync >= self.sync_every)
        try:
            cursor = self._cursor
            if cursor is None:
                matched = getattr(conn.execute(_MARK, staged), "rowcount", 1)
                conn.commit()
            else:  # PostgreSQL, autocommit: each statement is its own transaction
                if wait:
                    cursor.execute("SET synchronous_commit = on")
                cursor.execute(self._sql, {**staged, "b_state": staged["b_state"].value})
                matched = cursor.rowcount
                if wait:
                    cursor.execute("SET synchronous_commit = off")
                    self._since_sync = 0
        except self._errors as exc:
            raise RecordError(f"cannot record delivery {staged['b_id']}: {exc}") from exc
        if matched == 0:  # another batch claimed the row after our lease ran out
            log.warning(
                "delivery %s: its outcome (%s) was not recorded: another batch holds the row",
                staged["b_id"],
                staged["b_state"].value,
            )
        self._staged = None

    def refused(
        self,
        issue_id: int,
        delivery_id: int,
        subscriber_id: int,
        failure: PermanentFailure,
        rule: SoftBounceRule,
        now: datetime,
    ) -> None:
        """A receiver refused the address, or refused it by policy: fail the row and apply
        what that says of the address (:mod:`newsletter.subscribers.health`: an address
        refusal is a hard failure and suppresses it, a policy refusal is a soft failure), in
        one transaction, right away: a refused address is never left half-recorded."""
        self.flush(durable=True)
        try:
            with Session(self.engine) as session, session.begin():
                session.connection().execute(
                    _MARK,
                    {
                        "b_id": delivery_id,
                        "b_token": self.token,
                        "b_state": DeliveryState.FAILED,
                        "b_error": failure.reason,
                        "b_next_at": None,
                        "b_sent_at": None,
                    },
                )
                subscriber = session.get(Subscriber, subscriber_id)
                if subscriber is None:
                    return
                if failure.verdict is Verdict.ADDRESS:
                    hard_failure(session, subscriber, failure.reason, now)
                else:
                    detail = {
                        "status": status_in(failure.reason),
                        "diagnostic": failure.reason[:500],
                        "verdict": failure.verdict.value,
                    }
                    soft_failure(
                        session,
                        subscriber,
                        rule,
                        now,
                        issue_id=issue_id,
                        delivery_id=delivery_id,
                        detail=detail,
                    )
        except self._errors as exc:
            raise RecordError(
                f"cannot record the refusal of delivery {delivery_id}: {exc}"
            ) from exc
