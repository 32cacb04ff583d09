"""Test copies ("proofs") of an issue for editors.

A test copy is the whole issue (every section), marked "[TEST]" in its subject with a one-off
Message-ID, sent through the configured transport to any address. It is not a delivery and
changes nothing about the issue; its links are not tracked, and the mailto of its
``List-Unsubscribe`` names nobody (newsletter.mail.verp.NOBODY).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from newsletter.compose.content import Branding
from newsletter.compose.links import recipient_values
from newsletter.compose.message import issue_template
from newsletter.compose.message_ids import test_copy_id
from newsletter.compose.render import render_variant
from newsletter.config import Settings
from newsletter.issues.content import load_content
from newsletter.mail import make_transport
from newsletter.mail.transport import DeliveryError, Envelope, Transport
from newsletter.mail.verp import UnsubscribeAddress
from newsletter.models import utcnow
from newsletter.subscribers.parse import address_field
from newsletter.tokens import Signer, load_secret

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

    Bad addresses are refused (:class:`FieldError`, ``to``) before anything is sent. A
    transport failure for one address is reported in its :class:`CopyOutcome` and the others
    are still tried. Without ``transport``, one is made for this call and closed after it.
    """
    emails = [address_field(address, "to", shown=repr(address)) for address in addresses]
    content = load_content(session, issue_id, settings.timezone)
    variant = render_variant(content, 0, Branding.from_settings(settings))
    variant = replace(variant, subject=TEST_MARK + variant.subject)
    template = issue_template(variant, settings, content.week_key, kind="test")
    signer = Signer(load_secret(settings))
    # a test copy's unsubscribe mailto names nobody: a staff member's client may act on it
    unsubscribe_mailto = UnsubscribeAddress.from_settings(settings).for_nobody(issue_id)
    sender = transport or make_transport(settings)
    copies: list[CopyOutcome] = []
    try:
        for email in emails:
            # Unique, and unlike real deliveries' never reused: a test is not the issue.
            mid = test_copy_id(content.week_key, issue_id, settings.mail_domain)
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
                unsubscribe_mailto=unsubscribe_mailto,
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
