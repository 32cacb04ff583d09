"""An address's health: what a bounce, a refusal or a complaint does to a subscriber.

One owner for these rules, applied alike whether the news comes from our own SMTP session (a
refusal at RCPT TO or after DATA, ``newsletter.delivery.outcomes``) or later in a report
(``newsletter.feedback.bounces``); which refusal is which is decided by
:func:`newsletter.mail.replies.classify`.

- **hard** (the address does not work): the subscriber becomes ``bounced`` and the address is
  suppressed at once;
- **soft** (a policy block, a refused message, a full mailbox, a remote MTA that gave up): an
  event only; when the subscriber's soft failures span :attr:`SoftBounceRule.limit` different
  issues within :attr:`SoftBounceRule.window` (``NEWSLETTER_SOFT_BOUNCE_LIMIT`` and
  ``_DAYS``), it counts as a hard one. Distinct issues, because one message's retries and
  repeated reports are one failure, not several; so a policy block never suppresses an
  address the first time;
- **complaint** (RFC 5965, "this is spam"): ``complained`` and suppressed at once.

Every function runs in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.models import Event, Subscriber, SubscriberStatus, SuppressionReason
from newsletter.subscribers.suppression import suppress

ACTIVE = frozenset({SubscriberStatus.PENDING, SubscriberStatus.CONFIRMED})


@dataclass(frozen=True)
class SoftBounceRule:
    limit: int = 3
    window: timedelta = timedelta(days=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> SoftBounceRule:
        return cls(settings.soft_bounce_limit, timedelta(days=settings.soft_bounce_days))

    @property
    def note(self) -> str:
        return f"{self.limit} soft bounces within {self.window.days} days"


def hard_failure(session: Session, subscriber: Subscriber, note: str, now: datetime) -> None:
    """The address does not work: bounced (if it was active) and suppressed."""
    if subscriber.status in ACTIVE:
        subscriber.status = SubscriberStatus.BOUNCED
    suppress(session, subscriber.email_key, SuppressionReason.HARD_BOUNCE, note, now)


def soft_failure(
    session: Session,
    subscriber: Subscriber,
    rule: SoftBounceRule,
    now: datetime,
    *,
    issue_id: int | None,
    delivery_id: int | None,
    detail: dict[str, Any],
    when: datetime | None = None,
) -> bool:
    """Record one soft failure; True when it made the soft failures add up to a hard one
    (then the address is suppressed here)."""
    session.add(
        Event(
            kind="bounce_soft",
            issue_id=issue_id,
            subscriber_id=subscriber.id,
            delivery_id=delivery_id,
            detail={k: v for k, v in detail.items() if v},
            created_at=when or now,
        )
    )
    session.flush()
    issues = session.scalar(
        select(func.count(func.distinct(Event.issue_id))).where(
            Event.subscriber_id == subscriber.id,
            Event.kind == "bounce_soft",
            Event.created_at >= now - rule.window,
        )
    )
    if (issues or 0) < rule.limit:
        return False
    hard_failure(session, subscriber, rule.note, now)
    return True


def complaint(session: Session, subscriber: Subscriber, note: str, now: datetime) -> None:
    """The person reported our mail as spam: no more mail, whatever they said before."""
    if subscriber.status is not SubscriberStatus.COMPLAINED:
        subscriber.status = SubscriberStatus.COMPLAINED
        subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
    suppress(session, subscriber.email_key, SuppressionReason.COMPLAINT, note, now)
