"""The "View online" copy: the issue in a browser, as one reader got it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.compose.content import Branding
from newsletter.compose.links import recipient_values
from newsletter.compose.personalize import personalize
from newsletter.compose.render import render_variant
from newsletter.config import Settings
from newsletter.errors import NotFound
from newsletter.issues.content import load_content
from newsletter.issues.preview import PREVIEW_EMAIL
from newsletter.issues.variants import stored_variant
from newsletter.models import Delivery, Issue, IssueVariant, Subscriber
from newsletter.tokens import Signer


def online_copy(
    session: Session, settings: Settings, signer: Signer, issue_id: int, subscriber_id: int
) -> str:
    """The HTML a recipient got: the stored variant of their delivery (its links tracked, as
    in the mail) filled in for them. For a test copy or a subscriber the issue did not go to,
    the issue as everyone gets it, rendered now. :class:`NotFound` when the issue is gone."""
    delivery = session.scalar(
        select(Delivery).where(
            Delivery.issue_id == issue_id, Delivery.subscriber_id == subscriber_id
        )
    )
    subscriber = session.get(Subscriber, subscriber_id) if delivery else None
    stored = session.get(IssueVariant, (issue_id, delivery.variant_mask)) if delivery else None
    if stored is not None and subscriber is not None:
        variant = stored_variant(stored)
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
