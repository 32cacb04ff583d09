"""``newsletter bounces process``: every message of a mailbox, one transaction each: bounce
and complaint reports, and unsubscribe requests by mail (newsletter.feedback.unsubscribe_mail).

A message is applied by :func:`newsletter.feedback.bounces.process_report`; unverified,
unmatched and unparsable ones are copied aside for a person to read. A message that cannot be
applied at all is recorded as unparsable with the reason, so it never blocks the mailbox; only
a failure of the database itself stops the run, leaving that message for the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db import transaction
from newsletter.feedback.bounces import (
    DUPLICATE,
    UNMATCHED,
    UNPARSABLE,
    UNVERIFIED,
    BouncePolicy,
    Processed,
    digest_of,
    process_report,
    record,
)
from newsletter.feedback.mailboxes import Mailbox, keep_aside
from newsletter.feedback.unsubscribe_mail import UNSUBSCRIBED
from newsletter.models import BounceReport


@dataclass
class BounceRun:
    """Counts of one ``newsletter bounces process`` run, by outcome."""

    counts: dict[str, int] = field(default_factory=dict)
    promoted: int = 0
    aside: list[Path] = field(default_factory=list)  # where unapplied messages were kept

    def summary(self) -> str:
        order = (  # what was applied, then what was not
            *("hard", "soft", "delayed", "complaint", UNSUBSCRIBED),
            *(UNVERIFIED, UNMATCHED, UNPARSABLE, DUPLICATE),
        )
        parts = [f"{self.counts.get(k, 0)} {k}" for k in order]
        extra = f" ({self.promoted} soft became hard)" if self.promoted else ""
        return ", ".join(parts) + extra


def process_mailbox(
    factory: sessionmaker[Session],
    box: Mailbox,
    policy: BouncePolicy,
    aside: Path,
    now: datetime,
) -> BounceRun:
    """Process every message of ``box``, each in its own transaction. Unmatched and
    unparsable messages are copied to ``aside`` before their row commits. A message that
    cannot be applied is recorded as unparsable with the reason, so it never blocks the
    mailbox; only a failure of the database itself stops the run (and leaves that message
    for the next one)."""
    run = BounceRun()
    for key, raw in box:
        done = _process_one(factory, raw, policy, aside, now, run)
        box.done(key)
        run.counts[done.outcome] = run.counts.get(done.outcome, 0) + 1
        run.promoted += done.promoted
    return run


def _process_one(
    factory: sessionmaker[Session],
    raw: bytes,
    policy: BouncePolicy,
    aside: Path,
    now: datetime,
    run: BounceRun,
) -> Processed:
    digest = digest_of(raw)
    failure = "unknown"
    for _attempt in range(2):
        try:
            with transaction(factory) as session:
                done = process_report(session, raw, policy, now)
                if done.outcome in (UNVERIFIED, UNMATCHED, UNPARSABLE):
                    run.aside.append(keep_aside(aside, done.digest, raw))
            return done
        except IntegrityError as exc:
            with factory() as session:
                if session.get(BounceReport, digest) is not None:
                    return Processed(digest, DUPLICATE, "processed by another run")
            failure = f"{type(exc).__name__}: {exc.orig}"  # a race (a web unsubscribe): again
        except SQLAlchemyError:
            raise  # the database failed, not the message
        except Exception as exc:  # a message nobody foresaw must not block the mailbox
            failure = f"{type(exc).__name__}: {exc}"
            break
    with transaction(factory) as session:
        done = record(session, Processed(digest, UNPARSABLE, f"could not apply it: {failure}"), now)
        run.aside.append(keep_aside(aside, digest, raw))
    return done
