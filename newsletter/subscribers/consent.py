"""Consent: sign-up with double opt-in, confirmation, unsubscribe and preferences.

Each function runs inside the caller's transaction and returns what happened; messages are
sent by the caller only after the commit (a confirmation mail for a sign-up that rolled back
would confirm nothing).

Rules (the one place they live: the web form, ``subscribers add`` and ``subscribers import``
all apply them):
- Who asks matters (:class:`Channel`). The person, through the sign-up form, may come back
  after an unsubscribe or a "forget": their confirmation lifts that suppression. An operator
  (``subscribers add``) or an import may not: only the person can undo their own leaving.
  Nobody can lift a hard bounce, a complaint or a manual entry (:func:`blocks`).
- A sign-up creates (or reuses) a *pending* subscriber; only a confirmation makes it
  confirmed. A pending address asking again gets a new confirmation at most once an hour.
- A confirmation link is bound to the subscriber and to the moment it was requested, and
  expires after :data:`CONFIRM_VALID`: a newer request, or an unsubscribe, voids it.
- After an unsubscribe (or a "forget"), signing up again needs a new confirmation; the
  confirmation lifts that suppression. A blocked sign-up sends nothing (and the form says
  nothing different, so that it cannot tell anyone which addresses are on the list).
- An unsubscribe takes effect at once and is idempotent; it suppresses the address.
- An import's ``status`` column may take consent away, never give it
  (:func:`imported_status`): only the operator's ``--confirmed`` says consent was gathered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from newsletter.models import (
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from newsletter.sections import mask_of
from newsletter.subscribers.parse import (
    address_field,
    clean_name,
    email_hash,
)
from newsletter.subscribers.suppression import suppress
from newsletter.tokens import BadToken, Signer

CONFIRM_VALID = timedelta(days=7)
RESEND_AFTER = timedelta(hours=1)
# Suppressions a new, confirmed sign-up lifts: the person left, and now asks to come back.
LIFTED_BY_CONSENT = frozenset({SuppressionReason.UNSUBSCRIBED, SuppressionReason.FORGOTTEN})


class Channel(enum.StrEnum):
    """Who asks for a subscription."""

    SELF = "self"  # the person, through the sign-up form
    OPERATOR = "operator"  # an operator on someone's behalf (``subscribers add``)
    IMPORT = "import"  # a list gathered elsewhere (``subscribers import``)


def blocks(reason: SuppressionReason | None, channel: Channel) -> bool:
    """Whether a suppression of ``reason`` (None: none) stops a sign-up through ``channel``."""
    if reason is None:
        return False
    return channel is not Channel.SELF or reason not in LIFTED_BY_CONSENT


# What an import's status column says of an address that left, and its suppression.
LEFT = {
    SubscriberStatus.UNSUBSCRIBED: SuppressionReason.UNSUBSCRIBED,
    SubscriberStatus.BOUNCED: SuppressionReason.HARD_BOUNCE,
    SubscriberStatus.COMPLAINED: SuppressionReason.COMPLAINT,
}


def imported_status(
    column: SubscriberStatus | None, current: SubscriberStatus | None, *, confirmed: bool
) -> SubscriberStatus | None:
    """The status an import row gives a subscriber (None: leave it as it is).

    ``column`` is the row's own status (None: the file has none), ``current`` the stored
    subscriber's (None: a new one), ``confirmed`` whether the operator said consent was gathered
    elsewhere (``--confirmed``). A file is not consent: its ``confirmed`` means something only
    with ``--confirmed`` (and ``pending`` keeps that row pending even then). ``unsubscribed``,
    ``bounced`` and ``complained`` apply to new and known subscribers alike, and suppress the
    address (:data:`LEFT`). Otherwise a known subscriber is only ever moved from pending to
    confirmed, with ``--confirmed``: an import never withdraws consent nor undoes a leaving.
    """
    if column in LEFT:
        return column
    granted = (
        SubscriberStatus.CONFIRMED
        if confirmed and column in (None, SubscriberStatus.CONFIRMED)
        else SubscriberStatus.PENDING
    )
    if current is None:
        return granted
    if current is SubscriberStatus.PENDING and granted is SubscriberStatus.CONFIRMED:
        return granted
    return None


class Signup(enum.StrEnum):
    NEW = "new"  # pending; send a confirmation
    RESENT = "resent"  # still pending; send a confirmation again
    THROTTLED = "throttled"  # pending, and a confirmation went out less than an hour ago
    ALREADY = "already"  # confirmed already; nothing to do
    BLOCKED = "blocked"  # suppressed for a reason consent does not lift; nothing is sent


@dataclass(frozen=True)
class SignupResult:
    outcome: Signup
    subscriber_id: int | None
    email: str

    @property
    def send_confirmation(self) -> bool:
        return self.outcome in (Signup.NEW, Signup.RESENT)


def _suppression(session: Session, email_key: str) -> Suppression | None:
    return session.scalar(
        select(Suppression).where(Suppression.email_hash == email_hash(email_key))
    )


def subscribe(
    session: Session,
    email: str,
    name: str | None,
    categories: list[str],
    now: datetime,
    *,
    source: str = "web",
    channel: Channel = Channel.SELF,
) -> SignupResult:
    """Record a sign-up request. Raises :class:`FieldError` (``email``) for an invalid
    address."""
    key = address_field(email)
    suppression = _suppression(session, key)
    if blocks(suppression.reason if suppression else None, channel):
        return SignupResult(Signup.BLOCKED, None, key)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
    status = subscriber.status if subscriber is not None else None
    if subscriber is not None and status is SubscriberStatus.CONFIRMED and suppression is None:
        return SignupResult(Signup.ALREADY, subscriber.id, key)
    sent = subscriber.confirm_sent_at if subscriber is not None else None
    recent = sent is not None and now - sent < RESEND_AFTER
    if subscriber is not None and status is SubscriberStatus.PENDING and recent:
        return SignupResult(Signup.THROTTLED, subscriber.id, key)
    outcome = Signup.NEW if subscriber is None else Signup.RESENT
    if subscriber is None:
        subscriber = Subscriber(email=key, email_key=key, created_at=now)
        session.add(subscriber)
    subscriber.name = clean_name(name) or subscriber.name
    subscriber.category_mask = mask_of(categories)
    subscriber.status = SubscriberStatus.PENDING
    subscriber.consent_source = source
    subscriber.confirm_sent_at = now
    session.flush()
    return SignupResult(outcome, subscriber.id, key)


def confirm_token(signer: Signer, subscriber: Subscriber) -> str:
    """The link token of the subscriber's latest confirmation request."""
    sent = subscriber.confirm_sent_at
    if sent is None:
        raise ValueError(f"subscriber {subscriber.id} was never asked to confirm")
    subject = f"{subscriber.id}.{int(sent.timestamp())}"
    return signer.make("confirm", subject, expires=sent + CONFIRM_VALID)


class Confirmation(enum.StrEnum):
    CONFIRMED = "confirmed"
    ALREADY = "already"


def confirm(session: Session, signer: Signer, token: str, now: datetime) -> Confirmation:
    """Confirm the sign-up a link token names. Raises :class:`BadToken` for a forged,
    altered, expired or superseded link, or one whose subscriber left or is gone."""
    subject = signer.verify(token, "confirm", now)
    subscriber_id, _, stamp = subject.partition(".")
    subscriber = session.get(Subscriber, int(subscriber_id)) if subscriber_id.isdigit() else None
    if subscriber is None:
        raise BadToken("this confirmation link is for a subscription that no longer exists")
    if subscriber.status is SubscriberStatus.CONFIRMED:
        return Confirmation.ALREADY
    sent = subscriber.confirm_sent_at
    if (
        subscriber.status is not SubscriberStatus.PENDING
        or sent is None
        or stamp != str(int(sent.timestamp()))
    ):
        raise BadToken("this confirmation link was replaced by a newer one or withdrawn")
    suppression = _suppression(session, subscriber.email_key)
    if suppression is not None:
        if blocks(suppression.reason, Channel.SELF):  # bounced or complained since asking
            raise BadToken("this address cannot be subscribed")
        session.execute(delete(Suppression).where(Suppression.id == suppression.id))
    subscriber.status = SubscriberStatus.CONFIRMED
    subscriber.confirmed_at = now
    subscriber.consent_at = now
    subscriber.unsubscribed_at = None
    session.add(Event(kind="confirm", subscriber_id=subscriber.id, created_at=now))
    return Confirmation.CONFIRMED


def subscriber_for(session: Session, signer: Signer, token: str, purpose: str) -> Subscriber:
    """The subscriber a link token names (unsubscribe and preferences links do not expire:
    they sit in mail that people keep). Raises :class:`BadToken`."""
    subject = signer.verify(token, purpose)
    subscriber = session.get(Subscriber, int(subject)) if subject.isdigit() else None
    if subscriber is None:
        raise BadToken("this link is for a subscription that no longer exists")
    return subscriber


def unsubscribe(
    session: Session, subscriber: Subscriber, now: datetime, *, how: str, issue_id: int | None
) -> bool:
    """Unsubscribe and suppress the address; True if this call changed anything."""
    changed = subscriber.status is not SubscriberStatus.UNSUBSCRIBED
    if changed:
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        subscriber.unsubscribed_at = now
        session.add(
            Event(
                kind="unsubscribe",
                subscriber_id=subscriber.id,
                issue_id=issue_id,
                detail={"how": how},
                created_at=now,
            )
        )
    suppress(session, subscriber.email_key, SuppressionReason.UNSUBSCRIBED, how, now)
    return changed


def update_preferences(
    session: Session, subscriber: Subscriber, name: str | None, categories: list[str]
) -> None:
    """New name and picks; the next issue uses them (its delivery rows are made at send)."""
    subscriber.name = clean_name(name)
    subscriber.category_mask = mask_of(categories)
    session.flush()
