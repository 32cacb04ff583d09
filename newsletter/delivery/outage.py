"""An SMTP server failing every message: how a worker rides it out, and the record it leaves.

A deferral is about the reader only when it comes at RCPT TO (RFC 5321 4.2.5: 450, 451, 452
per recipient: a full mailbox, greylisting). A refused connection, a 421 (3.8: the server is
closing the channel), a 4xx greeting, login, MAIL FROM or end of DATA is the server's trouble,
and the next reader would meet it too (:attr:`TemporaryFailure.server_wide`); so are
:data:`STREAK` readers in a row deferred at RCPT TO, since this project sends through one relay
and a relay that defers three readers in a row is deferring everyone.

Then retrying each reader on its own backoff (5 minutes and more) would spend an attempt per
reader and hold thousands of them back for minutes after a 20-second hiccup. Instead the
worker keeps the message in hand and tries it again after 1, 2, 4... up to 30 s (:data:`WAITS`),
renewing its lease meanwhile; readers deferred in the streak before the outage was recognised
are made due again at once (:func:`release_streak`), without the attempt. The first message the
server takes ends the outage, and the batch goes on. If the server is still failing after
``NEWSLETTER_SMTP_OUTAGE_PAUSE`` seconds, the worker pauses the issue with the reason: an
operator must look (the relay is down, a password changed), and ``issue resume`` continues.

Each outage a worker meets is an ``smtp_outage`` event on the issue (written when it starts,
completed when it ends), which ``issue status`` sums up (:func:`outage_notes`): how long, how
many tries, what the server said.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db import transaction
from newsletter.models import Delivery, DeliveryState, Event, utcnow

STREAK = 3  # readers deferred in a row at RCPT TO before the server is taken to defer everyone
WAITS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds between tries of the message in hand
KIND = "smtp_outage"
REPLIES_KEPT = 5


@dataclass(frozen=True)
class GiveUp:
    """Why a batch stops riding an outage out: ``pause`` is the reason to pause the issue
    with (the outage lasted too long); None: the process is stopping or the issue stopped
    sending."""

    pause: str | None


@dataclass
class Outage:
    """One outage as one worker meets it."""

    since: float  # monotonic
    started_at: datetime
    tries: int = 0
    replies: list[str] = field(default_factory=list)  # distinct, oldest first
    event_id: int | None = None

    def failed(self, reply: str, waits: tuple[float, ...]) -> float:
        """Count a failed try; returns the seconds to wait before the next."""
        self.tries += 1
        if reply not in self.replies and len(self.replies) < REPLIES_KEPT:
            self.replies.append(reply)
        return waits[min(self.tries, len(waits)) - 1]


class Watch:
    """One worker's view of its SMTP server: the readers deferred in a row, the outage under
    way. ``sending`` says whether the issue is still sending (pause and cancel live in the
    database); ``stopping`` whether this process was asked to stop."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        worker: str,
        pause_after: float,
        *,
        sending: Callable[[int], bool],
        stopping: Callable[[], bool],
        check_every: float,
    ) -> None:
        self.factory = factory
        self.worker = worker
        self.pause_after = pause_after
        self.sending = sending
        self.stopping = stopping
        self.check_every = check_every
        self.waits: tuple[float, ...] = WAITS
        self.streak: list[int] = []
        self.current: Outage | None = None

    def deferred(self, delivery_id: int) -> bool:
        """A reader deferred at RCPT TO; True when that makes :data:`STREAK` readers in a row
        (the same reader deferred again, on its own retry, is no sign of the server's)."""
        if delivery_id not in self.streak:
            self.streak.append(delivery_id)
        return len(self.streak) >= STREAK

    def answered(self, issue_id: int) -> None:
        """The server took or refused a message: no streak, and any outage is over. Called
        for every message: nothing is allocated or written unless there was a streak."""
        if self.streak:
            self.streak = []
        if self.current is not None:
            self.end(issue_id, "recovered")

    def ride_out(self, issue_id: int, reply: str) -> GiveUp | None:
        """Count a failed try of the message in hand and wait before the next. Returns None
        to try again, or why to give the batch up: the outage lasted ``pause_after`` (the
        caller pauses the issue with :attr:`GiveUp.pause`), the process was asked to stop, or
        the issue stopped sending meanwhile (an operator paused or cancelled it)."""
        outage = self.current
        if outage is None:
            outage = self.current = Outage(time.monotonic(), utcnow())
            release_streak(self.factory, self.streak, utcnow())
            self.streak = []
        wait = outage.failed(reply, self.waits)
        if outage.tries == 1:
            record(self.factory, issue_id, self.worker, outage)
        lasted = time.monotonic() - outage.since
        if lasted >= self.pause_after:
            self.end(issue_id, "paused")
            return GiveUp(
                f"paused: the SMTP server failed every message for {lasted:.0f} s "
                f"({outage.tries} tries); last: {reply}"
            )
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            if self.stopping():
                break
            time.sleep(min(left, self.check_every))
            if not self.sending(issue_id):
                break
        else:
            return None
        self.end(issue_id, "stopped")
        return GiveUp(None)

    def end(self, issue_id: int, how: str) -> None:
        outage, self.current = self.current, None
        if outage is not None:
            record(self.factory, issue_id, self.worker, outage, ended=how)


def release_streak(factory: sessionmaker[Session], ids: list[int], now: datetime) -> int:
    """Rows deferred one by one before the outage was recognised: due again now, and the
    attempt they were charged given back (the server failed, not their readers)."""
    if not ids:
        return 0
    with transaction(factory) as session:
        done = session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.QUEUED)
            .values(
                next_at=now,
                attempts=case((Delivery.attempts > 0, Delivery.attempts - 1), else_=0),
            )
            .execution_options(synchronize_session=False)
        )
        return int(getattr(done, "rowcount", 0) or 0)


def record(
    factory: sessionmaker[Session],
    issue_id: int,
    worker: str,
    outage: Outage,
    *,
    ended: str | None = None,
) -> None:
    """Write (on its start) or complete (``ended``: recovered, paused, stopped) the outage's
    event. Its detail: worker, since, until, tries, replies, ended."""
    detail = {
        "worker": worker,
        "since": outage.started_at.isoformat(),
        "until": utcnow().isoformat() if ended else None,
        "tries": outage.tries,
        "replies": list(outage.replies),
        "ended": ended,
    }
    with transaction(factory) as session:
        if outage.event_id is None:
            event = Event(kind=KIND, issue_id=issue_id, detail=detail, created_at=outage.started_at)
            session.add(event)
            session.flush()
            outage.event_id = event.id
        else:
            session.execute(update(Event).where(Event.id == outage.event_id).values(detail=detail))


@dataclass(frozen=True)
class OutageNote:
    """What ``issue status`` says of one outage."""

    worker: str
    since: datetime
    until: datetime | None  # None: still going on
    tries: int
    replies: tuple[str, ...]
    ended: str | None

    @property
    def seconds(self) -> float | None:
        return None if self.until is None else (self.until - self.since).total_seconds()


def outage_notes(session: Session, issue_id: int, limit: int = 10) -> tuple[OutageNote, ...]:
    """The issue's latest outages, oldest first (at most ``limit``)."""
    details = session.scalars(
        select(Event.detail)
        .where(Event.issue_id == issue_id, Event.kind == KIND)
        .order_by(Event.id.desc())
        .limit(limit)
    ).all()
    notes = []
    for detail in reversed(details):
        if not detail:
            continue
        until = detail.get("until")
        notes.append(
            OutageNote(
                str(detail.get("worker", "?")),
                datetime.fromisoformat(detail["since"]),
                datetime.fromisoformat(until) if until else None,
                int(detail.get("tries", 0)),
                tuple(detail.get("replies") or ()),
                detail.get("ended"),
            )
        )
    return tuple(notes)
