"""Editors' previews: an issue as HTML, text or a whole message, for anyone or one subscriber.

A preview renders the current draft (not the stored variants), through the same renderer,
personalization and message builder the sender uses, so what an editor sees is what goes out.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.compose.content import Branding
from newsletter.compose.links import recipient_values
from newsletter.compose.message import MessageTemplate
from newsletter.compose.personalize import personalize
from newsletter.compose.render import render_variant
from newsletter.config import Settings
from newsletter.delivery.fanout import message_id
from newsletter.errors import NotFound
from newsletter.issues import load_content
from newsletter.models import Subscriber, utcnow
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
