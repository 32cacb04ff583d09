"""Applying bounce and complaint reports to subscribers and deliveries.

One report, one transaction (:func:`process_report`), recorded in ``bounce_reports`` by the
SHA-256 of its bytes, so reading a mailbox again changes nothing. The same run applies
unsubscribe requests by mail (:mod:`newsletter.feedback.unsubscribe_mail`), outcome
``unsubscribed``. What each kind of report does:

- **hard**: the delivery becomes ``failed`` with the remote server's words, and the address
  a hard failure (:mod:`newsletter.subscribers.health`: bounced and suppressed);
- **soft**: recorded on the delivery and as a soft failure, which adds up to a hard one over
  several issues (the same rule as a refusal met while sending);
- **delayed**: an event only; the remote MTA is still trying;
- **complaint**: the subscriber is ``complained`` and suppressed at once (RFC 5965 feedback
  loops; Gmail and Yahoo expect a complaint to stop all mail to that person).

A report is tied to a delivery by the identifiers it carries (see :func:`match`); one that
names no delivery of ours is ``unmatched``, one that cannot be read ``unparsable``. Both are
recorded, counted and kept aside by the caller, never applied.

Who may change a subscriber (the threat: anyone can mail the bounce address, our Message-IDs
are sequential, and a subscriber's address is no secret):

- a **signed** identifier always may: a signed VERP return path the report was delivered to,
  or a signed ``X-Newsletter-Id`` quoted from the original (newsletter.mail.verp);
- with ``NEWSLETTER_BOUNCE_ADDRESS`` set, nothing else may: a report that matches only by our
  Message-ID or an unsigned VERP address is ``unverified``, recorded and kept aside;
- without it (the From address is the return path), an unsigned match is applied only when the
  report was delivered to that address and names the subscriber's own address as the
  recipient: a forger who knows both can still bounce someone, a risk the README states.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.compose.message_ids import id_patterns
from newsletter.config import Settings
from newsletter.feedback.reports import NotAReport, Report, ReportKind, parse_report
from newsletter.feedback.unsubscribe_mail import NO_TAG, apply_request, find_request
from newsletter.mail.verp import Identified, MessageTags, ReturnPath, UnsubscribeAddress
from newsletter.models import (
    BounceReport,
    Delivery,
    DeliveryState,
    Event,
    Subscriber,
    SubscriberStatus,
)
from newsletter.subscribers.health import SoftBounceRule, complaint, hard_failure, soft_failure

UNMATCHED = "unmatched"
UNVERIFIED = "unverified"  # ours by Message-ID only, where a signature was required
UNPARSABLE = "unparsable"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class BouncePolicy:
    """What :func:`process_report` needs from the settings."""

    domain: str  # the domain of our Message-IDs
    return_path: ReturnPath | None  # NEWSLETTER_BOUNCE_ADDRESS, for VERP
    soft_limit: int
    soft_window: timedelta
    tags: MessageTags | None = None  # reads signed X-Newsletter-Id values
    sender: str | None = None  # the From address: the return path without VERP
    max_bytes: int = 2 * 1024 * 1024  # NEWSLETTER_BOUNCE_MAX_BYTES
    # the unsubscribe mailbox (newsletter.feedback.unsubscribe_mail): None reads none
    unsubscribe: UnsubscribeAddress | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> BouncePolicy:
        return cls(
            domain=settings.mail_domain,
            return_path=ReturnPath.from_settings(settings),
            soft_limit=settings.soft_bounce_limit,
            soft_window=timedelta(days=settings.soft_bounce_days),
            tags=MessageTags.from_settings(settings),
            sender=settings.sender_email.lower(),
            max_bytes=settings.bounce_max_bytes,
            unsubscribe=UnsubscribeAddress.from_settings(settings),
        )

    @property
    def soft(self) -> SoftBounceRule:
        return SoftBounceRule(self.soft_limit, self.soft_window)


def match(report: Report, policy: BouncePolicy) -> Identified | None:
    """Which of our messages ``report`` is about (issue id None: a sign-up's confirmation).
    Signed identifiers first: the VERP return path the report was delivered to, then an
    ``X-Newsletter-Id`` it quotes (all that it quotes must agree). Then the unsigned ones, our
    Message-ID and an unsigned VERP address, which :func:`_refuse` trusts only so far."""
    path = policy.return_path
    verp = [i for a in report.addressed_to if path and (i := path.identify(a))]
    signed = [i for i in verp if i.signed]
    if signed:
        return signed[0]
    tagged = [i for t in report.tags if policy.tags and (i := policy.tags.identify(t))]
    if len({(i.issue_id, i.subscriber_id) for i in tagged}) == 1:
        return tagged[0]
    for message_id in report.message_ids:
        for pattern in id_patterns(policy.domain):
            found = pattern.fullmatch(message_id.strip())
            if found:
                issue = found.groupdict().get("issue")
                sub = int(found.group("sub"))
                return Identified(int(issue) if issue else None, sub, signed=False)
    return verp[0] if verp else None


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
    if len(raw) > policy.max_bytes:  # the mailbox read no more than max_bytes + 1
        reason = f"larger than {policy.max_bytes} bytes (NEWSLETTER_BOUNCE_MAX_BYTES): not read"
        return record(session, Processed(digest, UNPARSABLE, reason), now)
    # An unsubscribe request by mail (List-Unsubscribe's mailto) shares the run: one to a
    # reader's tagged address is read as one; one to the bare address only when it is no
    # bounce, since that address may share a mailbox with the bounces.
    request = find_request(raw, policy.unsubscribe) if policy.unsubscribe else None
    if request is not None and request.tagged:
        applied = apply_request(session, request, now)
        done = Processed(
            digest, applied.outcome, applied.reason, applied.issue_id, applied.subscriber_id
        )
        return record(session, done, now)
    try:
        report = parse_report(raw)
    except NotAReport as exc:
        if request is not None:  # to the bare unsubscribe address, and no bounce
            return record(session, Processed(digest, UNMATCHED, NO_TAG), now)
        return record(session, Processed(digest, UNPARSABLE, str(exc)), now)
    except Exception as exc:  # a message no parser foresaw must not stop the run
        reason = f"cannot parse it: {type(exc).__name__}: {exc}"
        return record(session, Processed(digest, UNPARSABLE, reason), now)
    ids = match(report, policy)
    delivery: Delivery | None = None
    subscriber: Subscriber | None = None
    if ids is not None and ids.issue_id is not None:
        mine = (Delivery.issue_id == ids.issue_id, Delivery.subscriber_id == ids.subscriber_id)
        delivery = session.scalar(select(Delivery).where(*mine))
        subscriber = session.get(Subscriber, ids.subscriber_id) if delivery else None
    elif ids is not None:  # a confirmation: the sign-up, not a delivery
        subscriber = session.get(Subscriber, ids.subscriber_id)
    refused = _refuse(report, ids, delivery, subscriber, policy)
    if refused is not None or subscriber is None:
        outcome, why = refused or (UNMATCHED, None)
        return record(session, Processed(digest, outcome, why), now)
    when = min(report.date or now, now)
    promoted = False
    event = _Event(session, delivery, subscriber.id, report, when)
    if report.kind is ReportKind.SOFT:
        if delivery is not None:
            delivery.last_error = _describe(report)
        promoted = soft_failure(
            session,
            subscriber,
            policy.soft,
            now,
            issue_id=delivery.issue_id if delivery else None,
            delivery_id=delivery.id if delivery else None,
            detail=event.detail(),
            when=when,
        )
        if promoted:
            _fail(delivery, policy.soft.note)
    elif report.kind is ReportKind.HARD:
        event.add("bounce_hard")
        _fail(delivery, _describe(report))
        hard_failure(session, subscriber, _describe(report), now)
    elif report.kind is ReportKind.DELAYED:
        event.add("bounce_delayed")
    else:
        event.add("complaint")
        complaint(session, subscriber, f"feedback report ({report.feedback_type})", now)
    issue_id = delivery.issue_id if delivery is not None else None
    done = Processed(digest, report.kind.value, None, issue_id, subscriber.id, promoted=promoted)
    return record(session, done, now)


def _refuse(
    report: Report,
    ids: Identified | None,
    delivery: Delivery | None,
    subscriber: Subscriber | None,
    policy: BouncePolicy,
) -> tuple[str, str] | None:
    """(outcome, reason) when a report must not be applied. Our Message-IDs and an unsigned
    VERP address are guessable (sequential ids) and a subscriber's address is no secret, so an
    unsigned match is never enough where signing is set up, and elsewhere only together with
    the subscriber's address and delivery to our return path (module docstring)."""
    if ids is None:
        return UNMATCHED, "no Message-ID, return path or X-Newsletter-Id of ours"
    if subscriber is None:
        return UNMATCHED, "no such delivery" if ids.issue_id is not None else "no such subscriber"
    if not ids.signed:
        if policy.return_path is not None:
            return UNVERIFIED, (
                "matched only by an unsigned identifier (Message-ID or VERP address); "
                "with NEWSLETTER_BOUNCE_ADDRESS set only a signed return path or "
                "X-Newsletter-Id changes a subscriber"
            )
        if subscriber.email_key not in report.recipients:
            return UNMATCHED, "unsigned, and it does not name the subscriber's address"
        if policy.sender is not None and policy.sender not in report.addressed_to:
            return UNMATCHED, f"unsigned, and not delivered to our return path {policy.sender}"
    if delivery is None and subscriber.status is not SubscriberStatus.PENDING:
        return UNMATCHED, "a confirmation of a sign-up that is no longer pending"
    return None


def _fail(delivery: Delivery | None, note: str) -> None:
    """A message that was taken (or may have been) and then bounced: it failed after all."""
    if delivery is not None:
        if delivery.state in (DeliveryState.SENT, DeliveryState.UNKNOWN):
            delivery.state = DeliveryState.FAILED
        delivery.last_error = note


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

    def detail(self) -> dict[str, str | None]:
        report = self.report
        return {
            "status": report.status,
            "diagnostic": (report.diagnostic or "")[:500] or None,
            "feedback_type": report.feedback_type,
            "of": "confirmation" if self.delivery is None else None,
        }

    def add(self, kind: str) -> None:
        detail = self.detail()
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


def record(session: Session, done: Processed, now: datetime) -> Processed:
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
