"""Editors' previews and test copies of an issue.

A preview renders the current draft (not the stored variants), through the same renderer,
personalization and message builder the sender uses, so what an editor sees is what goes out.
A test copy is that message, marked "[TEST]" in its subject, sent through the configured
transport to any address; it is not a delivery and changes nothing about the issue.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.compose.content import Branding
from newsletter.compose.links import recipient_values
from newsletter.compose.message import MessageTemplate
from newsletter.compose.personalize import personalize
from newsletter.compose.render import RenderedVariant, render_variant
from newsletter.config import Settings
from newsletter.delivery import make_transport
from newsletter.delivery.fanout import message_id
from newsletter.delivery.transport import DeliveryError, Envelope, Transport
from newsletter.errors import InputError, NotFound
from newsletter.issues import load_content
from newsletter.models import Delivery, Issue, IssueVariant, Subscriber, utcnow
from newsletter.subscribers.parse import InvalidEmail, normalize_email
from newsletter.subscribers.tokens import Signer, load_secret

PREVIEW_EMAIL = "preview@example.com"


def preview(
    session: Session, settings: Settings, issue_id: int, *, email: str | None, fmt: str
) -> bytes:
    content = load_content(session, issue_id, settings.timezone)
    subscriber: Subscriber | None = None
    if email is not None:
        try:
            key = normalize_email(email)
        except InvalidEmail as exc:
            raise NotFound(f"--subscriber: {exc}") from exc
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
        if subscriber is None:
            raise NotFound(f"--subscriber {email}: no such subscriber")
    mask = subscriber.category_mask if subscriber else 0
    variant = render_variant(content, mask, Branding.from_settings(settings))
    recipient = recipient_values(
        Signer(load_secret(settings)),
        settings.base_url,
        issue_id=issue_id,
        subscriber_id=subscriber.id if subscriber else 0,
        email=subscriber.email if subscriber else PREVIEW_EMAIL,
        name=subscriber.name if subscriber else "Reader",
        category_mask=mask,
    )
    if fmt == "eml":
        template = MessageTemplate.prepare(
            variant,
            from_address=settings.from_address,
            list_id=settings.list_id,
            feedback_id=f"{content.week_key}:digest:{settings.mail_domain}",
        )
        return template.build(
            recipient,
            to_name=subscriber.name if subscriber else None,
            message_id=message_id(
                content.week_key,
                issue_id,
                subscriber.id if subscriber else 0,
                settings.mail_domain,
            ),
            date=utcnow(),
            unsubscribe_mailto=settings.unsubscribe_mailto,
        )
    html, text = personalize(variant.html, variant.text, recipient, variant.nonce)
    return (html if fmt == "html" else text).encode("utf-8")


TEST_MARK = "[TEST] "


@dataclass(frozen=True)
class CopyOutcome:
    address: str
    message_id: str
    error: str | None = None


def send_test_copies(
    session: Session,
    settings: Settings,
    issue_id: int,
    addresses: list[str],
    transport: Transport | None = None,
) -> list[CopyOutcome]:
    """Send the whole issue (every section) to each address, subject marked ``[TEST]``.

    Bad addresses are refused before anything is sent. A transport failure for one address
    is reported in its :class:`CopyOutcome` and the others are still tried.
    """
    emails: list[str] = []
    for address in addresses:
        try:
            emails.append(normalize_email(address))
        except InvalidEmail as exc:
            raise InputError(f"--to {address!r}: {exc}") from exc
    content = load_content(session, issue_id, settings.timezone)
    variant = render_variant(content, 0, Branding.from_settings(settings))
    variant = replace(variant, subject=TEST_MARK + variant.subject)
    template = MessageTemplate.prepare(
        variant,
        from_address=settings.from_address,
        list_id=settings.list_id,
        feedback_id=f"{content.week_key}:test:{settings.mail_domain}",
    )
    signer = Signer(load_secret(settings))
    sender = transport or make_transport(settings)
    copies: list[CopyOutcome] = []
    try:
        for email in emails:
            # Unique, and unlike real deliveries' never reused: a test is not the issue.
            token = secrets.token_hex(6)
            mid = f"<nl-test.{content.week_key}.{issue_id}.{token}@{settings.mail_domain}>"
            recipient = recipient_values(
                signer,
                settings.base_url,
                issue_id=issue_id,
                subscriber_id=0,
                email=email,
                name="Editor",
                category_mask=0,
            )
            message = template.build(
                recipient,
                to_name=None,
                message_id=mid,
                date=utcnow(),
                unsubscribe_mailto=settings.unsubscribe_mailto,
            )
            try:
                sender.send(Envelope(settings.sender_email, email, mid), message)
            except DeliveryError as exc:
                copies.append(CopyOutcome(email, mid, exc.reason))
            else:
                copies.append(CopyOutcome(email, mid))
    finally:
        if transport is None:
            sender.close()
    return copies


def online_copy(
    session: Session, settings: Settings, signer: Signer, issue_id: int, subscriber_id: int
) -> str:
    """The HTML a recipient got, for the "View online" link: the stored variant of their
    delivery (its links tracked, as in the mail) filled in for them. For a test copy or a
    subscriber the issue did not go to, the issue as everyone gets it, rendered now.
    Raises :class:`NotFound` when the issue no longer exists."""
    delivery = session.scalar(
        select(Delivery).where(
            Delivery.issue_id == issue_id, Delivery.subscriber_id == subscriber_id
        )
    )
    subscriber = session.get(Subscriber, subscriber_id) if delivery else None
    stored = session.get(IssueVariant, (issue_id, delivery.variant_mask)) if delivery else None
    if stored is not None and subscriber is not None:
        variant = RenderedVariant(
            stored.mask, stored.subject, stored.html, stored.text, stored.nonce
        )
        email, name, mask = subscriber.email, subscriber.name, subscriber.category_mask
    else:
        if session.get(Issue, issue_id) is None:
            raise NotFound(f"issue {issue_id} no longer exists")
        content = load_content(session, issue_id, settings.timezone)
        variant = render_variant(content, 0, Branding.from_settings(settings))
        email, name, mask = PREVIEW_EMAIL, None, 0
    recipient = recipient_values(
        signer,
        settings.base_url,
        issue_id=issue_id,
        subscriber_id=subscriber_id,
        email=email,
        name=name,
        category_mask=mask,
    )
    html, _text = personalize(variant.html, variant.text, recipient, variant.nonce)
    return html
