"""An editor's preview: the current draft as anyone, or one subscriber, gets it.

A preview renders the draft as it stands (not the stored variants), through the same
renderer, personalization and message builder the sender uses, so what an editor sees is
what goes out. Links are not tracked: a preview is not a delivery. In the whole message
(``eml``) the mailto of ``List-Unsubscribe`` names nobody (a signed tag for subscriber 0), so a
mail client that opens the file and offers "Unsubscribe" acts on no one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.compose.content import Branding
from newsletter.compose.links import recipient_values
from newsletter.compose.message import issue_template
from newsletter.compose.message_ids import digest_id
from newsletter.compose.personalize import Recipient, personalize
from newsletter.compose.render import RenderedVariant, render_variant
from newsletter.config import Settings
from newsletter.errors import FieldError
from newsletter.issues.content import load_content
from newsletter.mail.verp import UnsubscribeAddress
from newsletter.models import Subscriber, utcnow
from newsletter.subscribers.parse import address_field
from newsletter.tokens import Signer, load_secret

PREVIEW_EMAIL = "preview@example.com"
FORMATS = ("html", "text", "eml")


def find_subscriber(session: Session, email: str) -> Subscriber:
    """The subscriber with this address; :class:`FieldError` (``subscriber``) if none."""
    key = address_field(email, "subscriber")
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
    if subscriber is None:
        raise FieldError("subscriber", "no such subscriber", shown=email, code="unknown")
    return subscriber


def preview(
    session: Session, settings: Settings, issue_id: int, *, email: str | None, fmt: str
) -> bytes:
    """The draft as ``email``'s subscriber (or anyone, with every section) gets it: its HTML,
    its text part, or the whole message (``eml``)."""
    if fmt not in FORMATS:
        raise FieldError("format", f"expected one of {', '.join(FORMATS)}", shown=repr(fmt))
    draft = _render(session, settings, issue_id, email)
    if fmt == "eml":
        return draft.message(settings)
    html, text = personalize(draft.variant.html, draft.variant.text, draft.recipient, draft.nonce)
    return (html if fmt == "html" else text).encode("utf-8")


def sample(session: Session, settings: Settings, issue_id: int) -> tuple[str, bytes]:
    """Everyone's version of the draft (every section) as (its HTML, the whole message), from
    one rendering: what the pre-flight check looks at."""
    draft = _render(session, settings, issue_id, None)
    html, _ = personalize(draft.variant.html, draft.variant.text, draft.recipient, draft.nonce)
    return html, draft.message(settings)


@dataclass(frozen=True)
class _Draft:
    week_key: str
    issue_id: int
    subscriber: Subscriber | None
    variant: RenderedVariant
    recipient: Recipient

    @property
    def nonce(self) -> str:
        return self.variant.nonce

    def message(self, settings: Settings) -> bytes:
        subscriber = self.subscriber
        template = issue_template(self.variant, settings, self.week_key)
        return template.build(
            self.recipient,
            to_name=subscriber.name if subscriber else None,
            message_id=digest_id(
                self.week_key,
                self.issue_id,
                subscriber.id if subscriber else 0,
                settings.mail_domain,
            ),
            date=utcnow(),
            # never the subscriber's own: an editor's mail client must not act on it
            unsubscribe_mailto=UnsubscribeAddress.from_settings(settings).for_nobody(self.issue_id),
        )


def _render(session: Session, settings: Settings, issue_id: int, email: str | None) -> _Draft:
    content = load_content(session, issue_id, settings.timezone)
    subscriber = find_subscriber(session, email) if email is not None else None
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
    return _Draft(content.week_key, issue_id, subscriber, variant, recipient)
