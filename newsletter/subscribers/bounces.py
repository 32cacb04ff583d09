"""Applying bounce and complaint reports to subscribers and deliveries.

One report, one transaction (:func:`process_report`), recorded in ``bounce_reports`` by the
SHA-256 of its bytes, so reading a mailbox again changes nothing. What each kind does:

- **hard**: the delivery becomes ``failed`` with the remote server's words, the subscriber
  ``bounced``, and the address is suppressed (a hard bounce), so no later issue goes to it;
- **soft**: recorded on the delivery and as an event. When a subscriber's soft bounces span
  ``NEWSLETTER_SOFT_BOUNCE_LIMIT`` different issues within ``NEWSLETTER_SOFT_BOUNCE_DAYS``,
  the address is treated as a hard bounce. Distinct issues, because one message's retries
  and repeated reports are one failure, not several;
- **delayed**: an event only; the remote MTA is still trying;
- **complaint**: the subscriber is ``complained`` and suppressed at once (RFC 5965 feedback
  loops; Gmail and Yahoo expect a complaint to stop all mail to that person).

A report is tied to a delivery by the identifiers it carries (see :func:`match`); one that
names no delivery of ours is ``unmatched``, one that cannot be read ``unparsable``. Both are
recorded, counted and kept aside by the caller, never applied.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.models import (
    BounceReport,
    Delivery,
    DeliveryState,
    Event,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
)
from newsletter.subscribers.mailboxes import Mailbox, keep_aside
from newsletter.subscribers.reports import NotAReport, Report, ReportKind, parse_report
from newsletter.subscribers.suppression import suppress

UNMATCHED = "unmatched"
UNPARSABLE = "unparsable"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class BouncePolicy:
    """What :func:`process_report` needs from the settings."""

    domain: str  # the domain of our Message-IDs
    verp: tuple[str, str] | None  # NEWSLETTER_BOUNCE_ADDRESS as (local part, domain)
    soft_limit: int
    soft_window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> BouncePolicy:
        return cls(
            domain=settings.mail_domain,
            verp=settings.verp,
            soft_limit=settings.soft_bounce_limit,
            soft_window=timedelta(days=settings.soft_bounce_days),
        )

    def message_id_patterns(self) -> list[re.Pattern[str]]:
        domain = re.escape(self.domain)
        return [
            # delivery.fanout.message_id: <nl.{week}.{issue}.{subscriber}@{domain}>
            re.compile(rf"<nl\.[^.<>@\s]+\.(?P<issue>\d+)\.(?P<sub>\d+)@{domain}>", re.I),
            # compose.confirmation: <confirm.{subscriber}.{random}@{domain}>
            re.compile(rf"<confirm\.(?P<sub>\d+)\.[0-9a-f]+@{domain}>", re.I),
        ]

    def verp_patterns(self) -> list[re.Pattern[str]]:
        if self.verp is None:
            return []
        local, domain = (re.escape(p) for p in self.verp)
        return [
            re.compile(rf"{local}\+(?P<issue>\d+)-(?P<sub>\d+)@{domain}", re.I),
            re.compile(rf"{local}\+c-(?P<sub>\d+)@{domain}", re.I),  # a confirmation
        ]


def match(report: Report, policy: BouncePolicy) -> tuple[int | None, int] | None:
    """(issue id, subscriber id) of the message ``report`` is about: from our Message-ID,
    else from a VERP address the report was delivered to. The issue id is None for a
    confirmation mail (a sign-up's, not an issue's)."""
    candidates = [
        *((p, i.strip()) for i in report.message_ids for p in policy.message_id_patterns()),
        *((p, a) for a in report.addressed_to for p in policy.verp_patterns()),
    ]
    for pattern, text in candidates:
        found = pattern.fullmatch(text)
        if found:
            issue = found.groupdict().get("issue")
            return (int(issue) if issue else None), int(found.group("sub"))
    return None


@dataclass(frozen=True)
class Processed:
    """What one report did: ``outcome`` is a :class:`ReportKind` value, or unmatched,
    unparsable or duplicate; ``promoted`` when soft bounces added up to a hard one."""

    digest: str
    outcome: str
    reason: str | None = None
    issue_id: int | None = None
    subscriber_id: int | None = None
    promoted: bool = False


def digest_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def process_report(session: Session, raw: bytes, policy: BouncePolicy, now: datetime) -> Processed:
    """Read ``raw`` and apply it, inside the caller's transaction (commit it to keep it)."""
    digest = digest_of(raw)
    if session.get(BounceReport, digest) is not None:
        return Processed(digest, DUPLICATE, "already processed")
    try:
        report = parse_report(raw)
    except NotAReport as exc:
        return _record(session, Processed(digest, UNPARSABLE, str(exc)), now)
    except Exception as exc:  # a message no parser foresaw must not stop the run
        reason = f"cannot parse it: {type(exc).__name__}: {exc}"
        return _record(session, Processed(digest, UNPARSABLE, reason), now)
    ids = match(report, policy)
    delivery: Delivery | None = None
    subscriber: Subscriber | None = None
    if ids is not None and ids[0] is not None:
        mine = (Delivery.issue_id == ids[0], Delivery.subscriber_id == ids[1])
        delivery = session.scalar(select(Delivery).where(*mine))
        subscriber = session.get(Subscriber, ids[1]) if delivery else None
    elif ids is not None:  # a confirmation: the sign-up, not a delivery
        subscriber = session.get(Subscriber, ids[1])
    if subscriber is None:
        why = "no Message-ID or return path of ours" if ids is None else "no such delivery"
        return _record(session, Processed(digest, UNMATCHED, why), now)
    when = min(report.date or now, now)
    promoted = False
    event = _Event(session, delivery, subscriber.id, report, when)
    if report.kind is ReportKind.SOFT:
        if delivery is not None:
            delivery.last_error = _describe(report)
        event.add("bounce_soft")
        promoted = _soft_count(session, subscriber.id, now - policy.soft_window) >= (
            policy.soft_limit
        )
        if promoted:
            note = f"{policy.soft_limit} soft bounces within {policy.soft_window.days} days"
            _hard(session, delivery, subscriber, note, now)
    elif report.kind is ReportKind.HARD:
        event.add("bounce_hard")
        _hard(session, delivery, subscriber, _describe(report), now)
    elif report.kind is ReportKind.DELAYED:
        event.add("bounce_delayed")
    else:
        event.add("complaint")
        if subscriber.status is not SubscriberStatus.COMPLAINED:
            subscriber.status = SubscriberStatus.COMPLAINED
            subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
        note = f"feedback report ({report.feedback_type})"
        suppress(session, subscriber.email_key, SuppressionReason.COMPLAINT, note, now)
    issue_id = delivery.issue_id if delivery is not None else None
    done = Processed(digest, report.kind.value, None, issue_id, subscriber.id, promoted=promoted)
    return _record(session, done, now)


@dataclass
class BounceRun:
    """Counts of one ``newsletter bounces process`` run, by outcome."""

    counts: dict[str, int]
    promoted: int = 0
    aside: list[Path] | None = None

    def summary(self) -> str:
        order = ("hard", "soft", "delayed", "complaint", UNMATCHED, UNPARSABLE, DUPLICATE)
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
    unparsable messages are copied to ``aside`` before their row commits."""
    run = BounceRun(counts={}, aside=[])
    for key, raw in box:
        try:
            with transaction(factory) as session:
                done = process_report(session, raw, policy, now)
                if done.outcome in (UNMATCHED, UNPARSABLE):
                    assert run.aside is not None
                    run.aside.append(keep_aside(aside, done.digest, raw))
        except IntegrityError:  # another run recorded the same report first
            done = Processed(digest_of(raw), DUPLICATE, "processed by another run")
        box.done(key)
        run.counts[done.outcome] = run.counts.get(done.outcome, 0) + 1
        run.promoted += done.promoted
    return run


def _hard(
    session: Session,
    delivery: Delivery | None,
    subscriber: Subscriber,
    note: str,
    now: datetime,
) -> None:
    if delivery is not None:
        if delivery.state in (DeliveryState.SENT, DeliveryState.UNKNOWN):
            delivery.state = DeliveryState.FAILED
        delivery.last_error = note
    if subscriber.status in (SubscriberStatus.PENDING, SubscriberStatus.CONFIRMED):
        subscriber.status = SubscriberStatus.BOUNCED
    suppress(session, subscriber.email_key, SuppressionReason.HARD_BOUNCE, note, now)


def _soft_count(session: Session, subscriber_id: int, since: datetime) -> int:
    """Distinct issues with a soft bounce of this subscriber since ``since``."""
    session.flush()
    return (
        session.scalar(
            select(func.count(func.distinct(Event.issue_id))).where(
                Event.subscriber_id == subscriber_id,
                Event.kind == "bounce_soft",
                Event.created_at >= since,
            )
        )
        or 0
    )


def _describe(report: Report) -> str:
    words = f": {report.diagnostic}" if report.diagnostic else ""
    return f"bounced ({report.kind.value}, {report.status or 'no status'}){words}"[:1000]


@dataclass
class _Event:
    """The events one report records: of a delivery, or of a sign-up's confirmation."""

    session: Session
    delivery: Delivery | None
    subscriber_id: int
    report: Report
    when: datetime

    def add(self, kind: str) -> None:
        report = self.report
        detail = {
            "status": report.status,
            "diagnostic": (report.diagnostic or "")[:500] or None,
            "feedback_type": report.feedback_type,
            "of": "confirmation" if self.delivery is None else None,
        }
        self.session.add(
            Event(
                kind=kind,
                issue_id=self.delivery.issue_id if self.delivery else None,
                subscriber_id=self.subscriber_id,
                delivery_id=self.delivery.id if self.delivery else None,
                detail={k: v for k, v in detail.items() if v},
                created_at=self.when,
            )
        )


def _record(session: Session, done: Processed, now: datetime) -> Processed:
    session.add(
        BounceReport(
            digest=done.digest,
            outcome=done.outcome,
            issue_id=done.issue_id,
            subscriber_id=done.subscriber_id,
            reason=done.reason,
            processed_at=now,
        )
    )
    session.flush()
    return done
